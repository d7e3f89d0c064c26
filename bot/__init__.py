"""The shell: config, command line, the running application, chat channels and the scheduler."""
