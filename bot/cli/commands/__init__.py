"""The commands, one module per group: run (run, console), dossier, digest, questions, directory,
audit, answers, cases. Each command is a function `(config, args) -> exit code` that parser.py
names; a mistake the person can fix raises CommandError, told in one line."""
