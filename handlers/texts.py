"""Every text the bot sends, in Vietnamese and English. Vietnamese addresses the citizen as
"Ông/Bà" throughout. A key missing in one language fails tests/test_texts.py."""

from __future__ import annotations

from typing import Literal

Language = Literal["vi", "en"]
LANGUAGES: tuple[Language, ...] = ("vi", "en")

CATALOG: dict[str, dict[Language, str]] = {
    "greeting": {
        "vi": "Kính chào Ông/Bà! Hồ sơ «{procedure}» của Ông/Bà tại {unit} đã có kết quả. "
        "Xin Ông/Bà dành chưa đến một phút cho biết ý kiến để chúng tôi phục vụ tốt hơn.",
        "en": "Hello! The result of your application «{procedure}» at {unit} is ready. "
        "Please take less than a minute to tell us how you were served, so we can do better.",
    },
    "typing_hint": {
        "vi": "Ông/Bà trả lời bằng cách gõ số thứ tự.",
        "en": "Reply by typing the number.",
    },
    "skip": {"vi": "Bỏ qua", "en": "Skip"},
    "text_typing_hint": {
        "vi": "Ông/Bà gõ nội dung góp ý, hoặc gõ 1 để bỏ qua.",
        "en": "Type your answer, or type 1 to skip.",
    },
    "choose_again": {
        "vi": "Xin Ông/Bà chọn một trong các phương án dưới đây.",
        "en": "Please choose one of the options below.",
    },
    "thanks": {
        "vi": "Cảm ơn Ông/Bà đã dành thời gian đánh giá! Ý kiến của Ông/Bà đã được ghi nhận.",
        "en": "Thank you for your time! Your feedback has been recorded.",
    },
    "thanks_unsatisfied": {
        "vi": "Cảm ơn Ông/Bà đã cho chúng tôi biết. Ý kiến của Ông/Bà đã được ghi nhận và sẽ được "
        "chuyển đến Thủ trưởng {unit} để xem xét, giải quyết.",
        "en": "Thank you for telling us. Your feedback has been recorded and will be passed to the "
        "head of {unit} to look into and resolve.",
    },
    "already_answered": {
        "vi": "Cảm ơn Ông/Bà! Hồ sơ này đã được đánh giá, mỗi hồ sơ chỉ đánh giá một lần.",
        "en": "Thank you! This application has already been rated; each one is rated once.",
    },
    "not_returned_yet": {
        "vi": "Cảm ơn Ông/Bà! Hồ sơ «{procedure}» tại {unit} chưa có kết quả. Khi trả kết quả, "
        "chúng tôi sẽ gửi Ông/Bà phiếu khảo sát tại đây.",
        "en": "Thank you! The result of «{procedure}» at {unit} is not ready yet. When it is "
        "returned, we will send you the survey here.",
    },
    "bad_link": {
        "vi": "Xin lỗi, đường dẫn khảo sát này không hợp lệ. Ông/Bà vui lòng quét lại mã QR trên "
        "phiếu hẹn trả kết quả.",
        "en": "Sorry, this survey link is not valid. Please scan the QR code on your receipt again.",
    },
    "wrong_code": {
        "vi": "Xin lỗi, không tìm thấy mã khảo sát này. Ông/Bà vui lòng kiểm tra lại mã in trên phiếu hẹn.",
        "en": "Sorry, this survey code was not found. Please check the code printed on your receipt.",
    },
    "too_many_codes": {
        "vi": "Ông/Bà đã nhập sai mã nhiều lần. Xin vui lòng thử lại sau một giờ.",
        "en": "Too many wrong codes. Please try again in an hour.",
    },
    "expired_link": {
        "vi": "Xin lỗi, đường dẫn khảo sát này đã hết hạn. Cảm ơn Ông/Bà đã quan tâm.",
        "en": "Sorry, this survey link has expired. Thank you for your interest.",
    },
    "welcome": {
        "vi": "Kính chào Ông/Bà! Đây là kênh lấy ý kiến người dân về việc giải quyết thủ tục hành "
        "chính. Để đánh giá, Ông/Bà vui lòng quét mã QR trên phiếu hẹn trả kết quả, hoặc gửi mã "
        "khảo sát in trên phiếu (10 ký tự, ví dụ K7M2P-9XQ4R).",
        "en": "Hello! This is where citizens give feedback on how their administrative procedures "
        "were handled. To rate a service, please scan the QR code on your receipt, or send the survey "
        "code printed on it (10 characters, such as K7M2P-9XQ4R).",
    },
    "help": {
        "vi": "Bot lấy ý kiến người dân về việc giải quyết thủ tục hành chính.\n"
        "• Quét mã QR trên phiếu hẹn trả kết quả (hoặc gửi mã khảo sát in trên phiếu) để đánh giá "
        "hồ sơ của Ông/Bà.\n"
        "• {answering}\n"
        "• /language: đổi ngôn ngữ (Tiếng Việt / English).\n"
        "• /mydata, /forget, /privacy: xem, xóa dữ liệu cá nhân của Ông/Bà; đọc thông báo về dữ liệu.\n"
        "• /help: xem hướng dẫn này.",
        "en": "This bot collects citizens' feedback on administrative services.\n"
        "• Scan the QR code on your receipt (or send the survey code printed on it) to rate your "
        "application.\n"
        "• {answering}\n"
        "• /language: change language (Tiếng Việt / English).\n"
        "• /mydata, /forget, /privacy: see or erase your personal data; read the notice about it.\n"
        "• /help: show this help.",
    },
    "help_answer_buttons": {
        "vi": "Trả lời bằng cách bấm nút (hoặc gõ số thứ tự).",
        "en": "Answer by tapping a button (or typing its number).",
    },
    "help_answer_typed": {
        "vi": "Trả lời bằng cách gõ số thứ tự của phương án, hoặc gõ chính phương án đó.",
        "en": "Answer by typing the number of an option, or the option's words.",
    },
    "help_people": {
        "vi": "Dành cho thủ trưởng và cán bộ:\n"
        "• /cases: các phản ánh đang mở của đơn vị; /mycases: các phản ánh được giao cho Ông/Bà.\n"
        "• /id: mã người dùng của Ông/Bà, để quản trị viên thêm vào danh bạ.\n"
        "• Nơi không có nút bấm (Zalo): gõ «giao 12» để giao phản ánh #12, «xong 12» khi đã xử lý "
        "xong phản ánh #12, «gia han 345» để gia hạn hồ sơ số 345 (báo cáo ngày ghi số này); "
        "các lựa chọn khác trả lời bằng số thứ tự. Gõ /cancel để hủy thao tác đang nhập.",
        "en": "For unit heads and staff:\n"
        "• /cases: your unit's open complaints; /mycases: the complaints assigned to you.\n"
        "• /id: your user id, for the admin to add you to the directory.\n"
        "• Where there are no buttons (Zalo): type «assign 12» to assign complaint #12, «done 12» "
        "once complaint #12 is resolved, «extend 345» to extend dossier number 345 (the digest "
        "gives the number); answer other choices with their number. "
        "Send /cancel to stop what you are typing.",
    },
    "your_id": {
        "vi": "Mã người dùng {platform} của Ông/Bà: {chat_id}\nThủ trưởng, cán bộ: gửi mã này cho quản trị "
        "viên để được thêm vào danh bạ đơn vị ({channel}: {chat_id}).",
        "en": "Your {platform} user id: {chat_id}\nUnit heads and staff: send it to your admin to be added "
        "to the directory ({channel}: {chat_id}).",
    },
    "typed_assign": {
        "vi": "👉 Giao xử lý: gõ «giao {id}»",
        "en": "👉 To assign it, type «assign {id}»",
    },
    "typed_reassign": {
        "vi": "👉 Giao lại: gõ «giao {id}»",
        "en": "👉 To reassign it, type «assign {id}»",
    },
    "typed_resolve": {
        "vi": "👉 Khi đã xử lý xong: gõ «xong {id}», rồi gửi nội dung kết quả",
        "en": "👉 Once resolved, type «done {id}», then send the resolution note",
    },
    "menu_expected": {
        "vi": "Xin lỗi, tôi chưa hiểu. Ông/Bà vui lòng chọn một trong các lựa chọn sau:",
        "en": "Sorry, I did not understand. Please choose one of these:",
    },
    "outside_survey": {
        "vi": "Cảm ơn Ông/Bà đã nhắn tin. Hiện Ông/Bà không có phiếu khảo sát nào đang mở. Để đánh "
        "giá, Ông/Bà vui lòng quét mã QR trên phiếu hẹn trả kết quả hoặc gửi mã khảo sát in trên "
        "phiếu. Gõ /help để xem hướng dẫn.",
        "en": "Thank you for your message. You have no survey open right now. To rate a service, "
        "please scan the QR code on your receipt or send the survey code printed on it. Send /help "
        "for help.",
    },
    "not_saved": {
        "vi": "Xin lỗi, hệ thống chưa lưu được ý kiến của Ông/Bà. Xin vui lòng thử lại sau ít phút.",
        "en": "Sorry, the system could not save your message. Please try again in a few minutes.",
    },
    "stale_option": {
        "vi": "Câu hỏi này đã được trả lời hoặc không còn hiệu lực.",
        "en": "This question has already been answered or is no longer open.",
    },
    "unsupported": {
        "vi": "Xin lỗi, bot chỉ nhận tin nhắn chữ và các nút trả lời.",
        "en": "Sorry, this bot only understands text messages and answer buttons.",
    },
    "text_expected": {
        "vi": "Xin Ông/Bà nhập ý kiến bằng chữ, hoặc chọn «Bỏ qua».",
        "en": "Please type your answer as text, or choose «Skip».",
    },
    "too_long": {
        "vi": "Nội dung quá dài ({length} ký tự). Xin Ông/Bà rút gọn dưới {limit} ký tự và gửi lại.",
        "en": "Your message is too long ({length} characters). Please shorten it to under {limit} "
        "characters and send it again.",
    },
    "choose_language": {
        "vi": "Chọn ngôn ngữ / Choose your language:",
        "en": "Choose your language / Chọn ngôn ngữ:",
    },
    "language_set": {
        "vi": "Đã chuyển sang Tiếng Việt.",
        "en": "Language set to English.",
    },
    "language_hint": {
        "vi": "Gõ /language vi hoặc /language en.",
        "en": "Type /language en or /language vi.",
    },
    "language_name": {"vi": "Tiếng Việt", "en": "English"},
    "unknown_command": {
        "vi": "Xin lỗi, bot không hiểu lệnh này. Gõ /help để xem hướng dẫn.",
        "en": "Sorry, I don't know that command. Send /help for help.",
    },
    "command_start": {"vi": "Bắt đầu", "en": "Start"},
    "command_help": {"vi": "Hướng dẫn sử dụng", "en": "How to use this bot"},
    "command_language": {"vi": "Đổi ngôn ngữ", "en": "Change language"},
    "try_again_later": {
        "vi": "Xin lỗi, hệ thống đang bận. Ông/Bà vui lòng thử lại sau ít phút.",
        "en": "Sorry, the system is busy. Please try again in a few minutes.",
    },
    # Complaint cases: heads, staff and the citizen who complained.
    "case_summary": {
        "vi": "Phản ánh #{id} · {unit}\nHồ sơ {dossier}: {procedure}\nĐánh giá: {rating}{problem}{words}\n"
        "Tiếp nhận: {opened} · Hạn xử lý: {deadline}\nTrạng thái: {state}",
        "en": "Complaint #{id} · {unit}\nApplication {dossier}: {procedure}\n"
        "Rating: {rating}{problem}{words}\nReceived: {opened} · Deadline: {deadline}\nState: {state}",
    },
    "case_problem": {"vi": "\nVấn đề: {problem}", "en": "\nProblem: {problem}"},
    "case_words": {"vi": "\nÝ kiến: “{words}”", "en": "\nIn their words: “{words}”"},
    "case_assignee": {"vi": " (giao cho {name})", "en": " (assigned to {name})"},
    "rating_satisfied": {"vi": "Hài lòng", "en": "Satisfied"},
    "rating_neutral": {"vi": "Bình thường", "en": "Neutral"},
    "rating_unsatisfied": {"vi": "Không hài lòng", "en": "Unsatisfied"},
    "state_new": {"vi": "mới", "en": "new"},
    "state_assigned": {"vi": "đã giao", "en": "assigned"},
    "state_resolved": {"vi": "đã xử lý, chờ người dân xác nhận", "en": "resolved, awaiting the citizen"},
    "state_closed": {"vi": "đã đóng", "en": "closed"},
    "state_reopened": {
        "vi": "mở lại (người dân báo chưa được giải quyết)",
        "en": "reopened (not resolved, says the citizen)",
    },
    "button_assign": {"vi": "Giao xử lý", "en": "Assign"},
    "button_reassign": {"vi": "Giao lại", "en": "Reassign"},
    "button_resolve": {"vi": "Đã xử lý xong", "en": "Mark resolved"},
    "button_resolved_yes": {"vi": "Đã được giải quyết", "en": "Resolved"},
    "button_resolved_no": {"vi": "Chưa được giải quyết", "en": "Not resolved"},
    "button_next_page": {"vi": "Trang sau ›", "en": "Next page ›"},
    "choose_staff": {
        "vi": "Giao phản ánh #{id} cho cán bộ nào?",
        "en": "Who should handle complaint #{id}?",
    },
    "no_staff": {
        "vi": "{unit} chưa có cán bộ nào trong danh bạ để giao phản ánh.",
        "en": "{unit} has no staff in the directory to assign the complaint to.",
    },
    "assigned_done": {
        "vi": "Đã giao phản ánh #{id} cho {name}. Người dân sẽ được thông báo.",
        "en": "Complaint #{id} is assigned to {name}. The citizen will be told.",
    },
    "ask_resolution": {
        "vi": "Xin nhập ngắn gọn cách đã giải quyết phản ánh #{id} (tối đa {limit} ký tự). "
        "Nội dung này sẽ được gửi cho người dân.",
        "en": "Please write briefly how complaint #{id} was resolved (at most {limit} characters). "
        "The citizen will receive it.",
    },
    "resolved_done": {
        "vi": "Đã ghi nhận kết quả xử lý phản ánh #{id}. Người dân sẽ được thông báo và xác nhận.",
        "en": "The resolution of complaint #{id} is recorded. The citizen will be told and asked to confirm.",
    },
    "not_allowed": {
        "vi": "Xin lỗi, Ông/Bà không có quyền thực hiện thao tác này.",
        "en": "Sorry, you are not allowed to do this.",
    },
    "case_stale_citizen": {
        "vi": "Phản ánh này đã được ghi nhận hoặc đã thay đổi; lựa chọn này không còn hiệu lực.",
        "en": "This complaint has already been recorded or changed; this choice no longer applies.",
    },
    "case_stale": {
        "vi": "Phản ánh #{id} đã được xử lý hoặc thay đổi; thao tác này không còn hiệu lực.",
        "en": "Complaint #{id} has already been handled or changed; this button no longer applies.",
    },
    "confirm_thanks_closed": {
        "vi": "Cảm ơn Ông/Bà đã xác nhận. Phản ánh đã được đóng.",
        "en": "Thank you for confirming. The complaint is closed.",
    },
    "confirm_thanks_reopened": {
        "vi": "Cảm ơn Ông/Bà. Phản ánh đã được mở lại và chuyển lại Thủ trưởng {unit}.",
        "en": "Thank you. The complaint is reopened and sent back to the head of {unit}.",
    },
    "notice_case_assigned": {
        "vi": "Phản ánh của Ông/Bà về hồ sơ «{procedure}» tại {unit} đã được giao cho cán bộ {name} xử lý. "
        "Chúng tôi sẽ thông báo khi có kết quả.",
        "en": "Your complaint about «{procedure}» at {unit} has been assigned to {name}. "
        "We will tell you when it is resolved.",
    },
    "notice_case_to_staff": {
        "vi": "Ông/Bà được giao xử lý phản ánh sau. Xin liên hệ người dân trong vòng {hours} giờ: "
        "chọn «Nhắn người dân» để nhắn qua bot.",
        "en": "You have been assigned the complaint below. Please contact the citizen within {hours} "
        "hours: choose «Message the citizen» to write to them through the bot.",
    },
    "notice_message_to_citizen": {
        "vi": "Cán bộ {name} ({unit}) nhắn Ông/Bà về phản ánh đối với hồ sơ «{procedure}»:\n“{note}”",
        "en": "{name} of {unit} writes to you about your complaint on «{procedure}»:\n“{note}”",
    },
    "notice_reply_from_citizen": {
        "vi": "Người dân trả lời về phản ánh #{id} («{procedure}»):\n“{note}”",
        "en": "The citizen replies about complaint #{id} («{procedure}»):\n“{note}”",
    },
    "button_message_citizen": {"vi": "Nhắn người dân", "en": "Message the citizen"},
    "typed_message": {
        "vi": "👉 Nhắn người dân qua bot: gõ «nhan {id}», rồi gửi nội dung",
        "en": "👉 To message the citizen through the bot, type «message {id}», then send the text",
    },
    "button_reply": {"vi": "Trả lời", "en": "Reply"},
    "ask_message": {
        "vi": "Xin nhập tin nhắn gửi người dân về phản ánh #{id} (tối đa {limit} ký tự). Bot sẽ chuyển "
        "tin nhắn và câu trả lời của người dân; hai bên không thấy tài khoản của nhau.",
        "en": "Please write your message to the citizen about complaint #{id} (at most {limit} "
        "characters). The bot passes it on, and their reply back; neither side sees the other's account.",
    },
    "message_sent": {
        "vi": "Đã chuyển tin nhắn đến người dân (phản ánh #{id}). Câu trả lời của người dân sẽ được chuyển "
        "lại cho Ông/Bà.",
        "en": "Your message went to the citizen (complaint #{id}). Their reply will come to you here.",
    },
    "ask_reply": {
        "vi": "Xin Ông/Bà nhập nội dung trả lời (tối đa {limit} ký tự); bot sẽ chuyển đến cán bộ xử lý.",
        "en": "Please write your reply (at most {limit} characters); the bot passes it to the official "
        "handling your complaint.",
    },
    "reply_sent": {
        "vi": "Đã chuyển câu trả lời của Ông/Bà đến cán bộ xử lý. Cảm ơn Ông/Bà.",
        "en": "Your reply went to the official handling your complaint. Thank you.",
    },
    "notice_case_resolved": {
        "vi": "{unit} đã xử lý phản ánh của Ông/Bà về hồ sơ «{procedure}»:\n“{note}”\n\n"
        "Vấn đề của Ông/Bà đã được giải quyết chưa?",
        "en": "{unit} has handled your complaint about «{procedure}»:\n“{note}”\n\nIs your problem resolved?",
    },
    "notice_case_reopened": {
        "vi": "Người dân báo phản ánh #{id} CHƯA được giải quyết. Phản ánh đã được mở lại.",
        "en": "The citizen says complaint #{id} is NOT resolved. It has been reopened.",
    },
    "no_cases": {"vi": "Không có phản ánh nào đang mở.", "en": "No open complaints."},
    "cases_withdrawn": {
        "vi": "Phản ánh đã đóng do người dân rút và yêu cầu xóa dữ liệu: {cases}.",
        "en": "Complaints closed because the citizen withdrew them and had their data erased: {cases}.",
    },
    "cases_page": {
        "vi": "Phản ánh đang mở: {first}–{last} trên {total}.",
        "en": "Open complaints: {first}–{last} of {total}.",
    },
    "cases_more": {"vi": "Còn {count} phản ánh nữa.", "en": "{count} more complaints."},
    "my_cases_none": {
        "vi": "Ông/Bà không có phản ánh nào đang được giao.",
        "en": "You have no complaints assigned.",
    },
    "staff_only": {
        "vi": "Lệnh này dành cho thủ trưởng và cán bộ các đơn vị.",
        "en": "This command is for unit heads and staff.",
    },
    # The daily digest.
    "digest_header": {
        "vi": "Báo cáo ngày {day} · {unit}\nÝ kiến ngày {yesterday}: {answers} lượt — hài lòng {satisfied}, "
        "bình thường {neutral}, không hài lòng {unsatisfied}.\nPhản ánh mới: {new} · Đang mở: {open} · "
        "Quá hạn: {overdue}{escalated}",
        "en": "Digest for {day} · {unit}\nFeedback on {yesterday}: {answers} — satisfied {satisfied}, "
        "neutral {neutral}, unsatisfied {unsatisfied}.\nNew complaints: {new} · Open: {open} · "
        "Overdue: {overdue}{escalated}",
    },
    "digest_escalated_count": {
        "vi": " · Quá hạn ở đơn vị cấp dưới: {count}",
        "en": " · Overdue in units below: {count}",
    },
    "digest_forwarded": {
        "vi": "Lưu ý: không liên lạc được với Thủ trưởng {unit}, báo cáo được chuyển đến Ông/Bà.",
        "en": "Note: the head of {unit} cannot be reached, so this digest comes to you.",
    },
    "digest_overdue_title": {"vi": "Quá hạn:", "en": "Overdue:"},
    "digest_escalated_title": {"vi": "Quá hạn ở đơn vị cấp dưới:", "en": "Overdue in units below:"},
    "new_cases_notice": {
        "vi": "🔔 {unit}: {count} phản ánh mới của người dân cần giao xử lý.",
        "en": "🔔 {unit}: {count} new complaint(s) from citizens to assign.",
    },
    "digest_more": {
        "vi": "Còn {count} phản ánh mới khác: gõ /cases để xem từng trang.",
        "en": "{count} more new complaints: send /cases to page through them.",
    },
    "digest_undelivered_title": {"vi": "Không gửi được:", "en": "Not delivered:"},
    "digest_at_risk_title": {
        "vi": "Hồ sơ sắp đến hạn trả mà chưa gia hạn (cần gửi thư xin lỗi nếu sẽ trễ):",
        "en": "Dossiers due next working day, not extended (an apology letter is due if they will be late):",
    },
    "at_risk_line": {
        "vi": "• Hồ sơ {code} · {procedure}{citizen} · hẹn trả {due}",
        "en": "• Dossier {code} · {procedure}{citizen} · due {due}",
    },
    "at_risk_more": {
        "vi": "Còn {count} hồ sơ sắp đến hạn khác (số {ids}): gõ «gia han» và số hồ sơ để gia hạn.",
        "en": "{count} more dossiers due soon (numbers {ids}): type «extend» and the number to extend one.",
    },
    "cancelled": {"vi": "Đã hủy.", "en": "Cancelled."},
    "button_extend": {"vi": "Gia hạn, gửi thư xin lỗi", "en": "Extend, send an apology"},
    "typed_extend": {
        "vi": "Để gia hạn, gõ: gia han {id}",
        "en": "To extend it, type: extend {id}",
    },
    "extend_closed": {
        "vi": "Hồ sơ {code} đã trả kết quả hoặc đã rút, không cần gia hạn.",
        "en": "Dossier {code} was returned or withdrawn: it needs no extension.",
    },
    "extend_already": {
        "vi": "Hồ sơ {code} đã được gia hạn; mỗi hồ sơ chỉ được gia hạn một lần.",
        "en": "Dossier {code} was extended already; a dossier is extended only once.",
    },
    "ask_extension_reason": {
        "vi": "Gia hạn hồ sơ {code}: xin nhập lý do trễ hạn (sẽ ghi trong "
        "thư xin lỗi gửi người dân). Gõ /cancel để hủy.",
        "en": "Extending dossier {code}: please write the reason for the "
        "delay (it goes into the apology letter to the citizen). Send /cancel to stop.",
    },
    "extension_reason_refused": {
        "vi": "Lý do chưa hợp lệ (không để trống, tối đa 500 ký tự). Xin nhập lại lý do.",
        "en": "That reason cannot be used (not empty, at most 500 "
        "characters). Please write the reason again.",
    },
    "ask_extension_day": {
        "vi": "Xin nhập ngày hẹn trả mới, dạng ngày/tháng/năm, ví dụ {example}.",
        "en": "Please type the new appointment date as day/month/year, for example {example}.",
    },
    "extension_day_refused": {
        "vi": "Ngày hẹn mới phải là một ngày sau hôm nay, dạng "
        "ngày/tháng/năm, ví dụ {example}. Xin nhập lại.",
        "en": "The new appointment date must be a day after today, written "
        "day/month/year, for example {example}. Please type it again.",
    },
    "extended_sent": {
        "vi": "Đã gia hạn hồ sơ {code} đến 17:00 ngày {day}. Thư xin lỗi đang được gửi đến người dân.",
        "en": "Dossier {code} is extended to {day}, 17:00. The apology letter is on its way to the citizen.",
    },
    "extended_print": {
        "vi": "Đã gia hạn hồ sơ {code} đến 17:00 ngày {day}. Người dân "
        "chưa có kênh nhận tin: thư xin lỗi được đưa vào danh sách để bộ phận một cửa in và gửi.",
        "en": "Dossier {code} is extended to {day}, 17:00. The citizen has "
        "no channel: the apology letter is listed for the desk to print and send.",
    },
    "citizen_by_zns": {
        "vi": "Người dân gửi phản ánh #{id} đã đánh giá qua tin nhắn mẫu Zalo (ZNS), nên không nhắn tin "
        "cho họ qua bot được. Kết quả xử lý Ông/Bà ghi lại sẽ được gửi đến số điện thoại của họ qua Zalo.",
        "en": "The citizen of complaint #{id} rated by a Zalo template message (ZNS), so they cannot be "
        "messaged through the bot. The resolution you record goes to their phone by Zalo.",
    },
    "privacy_notice": {
        "vi": "🔒 Về dữ liệu cá nhân: {controller} xử lý đánh giá, câu trả lời, nội dung phản ánh, mã "
        "cuộc trò chuyện và số điện thoại (nếu hồ sơ có) của Ông/Bà để cải thiện dịch vụ công và giải "
        "quyết phản ánh. Tên, số điện thoại, nội dung phản ánh và liên kết trò chuyện được lưu tối đa "
        "{days} ngày kể từ lần cuối hồ sơ có hoạt động; đánh giá được giữ lại ở dạng ẩn danh. {commands}",
        "en": "🔒 About your personal data: {controller} processes your rating, answers, complaint text, "
        "chat id and phone number (if your dossier has one) to improve public services and handle your "
        "complaint. Names, phone numbers, complaint texts and chat links are kept for at most {days} days "
        "after the dossier's last activity; ratings are kept without anything that identifies you. "
        "{commands}",
    },
    "privacy_controller_default": {
        "vi": "cơ quan giải quyết hồ sơ và đơn vị vận hành hệ thống góp ý",
        "en": "the agency handling your dossier and the body running this feedback service",
    },
    "privacy_commands_buttons": {
        "vi": "Gửi /mydata để xem, /forget để xóa dữ liệu của Ông/Bà, /privacy để đọc lại thông báo này.",
        "en": "Send /mydata to see your data, /forget to erase it, /privacy to read this notice again.",
    },
    "privacy_commands_typed": {
        "vi": "Gõ «dulieu» để xem, «xoa du lieu» để xóa dữ liệu của Ông/Bà, «quyen rieng tu» để đọc "
        "lại thông báo này.",
        "en": "Type «mydata» to see your data, «forget» to erase it, «privacy» to read this notice again.",
    },
    "mydata_header": {
        "vi": "Dữ liệu hệ thống đang lưu về Ông/Bà qua cuộc trò chuyện này:",
        "en": "The data this service keeps about you through this chat:",
    },
    "mydata_nothing": {
        "vi": "Không có hồ sơ, đánh giá hay phản ánh nào gắn với cuộc trò chuyện này.",
        "en": "No dossier, rating or complaint is linked to this chat.",
    },
    "mydata_dossier": {"vi": "• Hồ sơ {code} · {procedure}", "en": "• Dossier {code} · {procedure}"},
    "mydata_answer": {
        "vi": "• Đánh giá hồ sơ {code} ngày {day}: {rating}{words}",
        "en": "• Rating of dossier {code} on {day}: {rating}{words}",
    },
    "mydata_case": {
        "vi": "• Phản ánh #{id} (hồ sơ {code}): {state}, {events} bước xử lý",
        "en": "• Complaint #{id} (dossier {code}): {state}, {events} steps",
    },
    "mydata_footer": {
        "vi": "Dữ liệu được lưu tối đa {days} ngày sau lần hoạt động cuối của hồ sơ. Gửi /forget "
        "(hoặc gõ «xoa du lieu») nếu Ông/Bà muốn xóa.",
        "en": "It is kept for at most {days} days after the dossier's last activity. Send /forget (or "
        "type «forget») to have it erased.",
    },
    "ask_forget": {
        "vi": "Ông/Bà muốn xóa dữ liệu cá nhân của mình? Mã trò chuyện, tên, số điện thoại và nội dung "
        "phản ánh sẽ bị xóa; đánh giá được giữ ở dạng ẩn danh để thống kê; phản ánh đang xử lý sẽ được "
        "đóng. Việc này không hoàn tác được.",
        "en": "Erase your personal data? Your chat id, name, phone number and complaint texts will be "
        "erased; your ratings stay, anonymous, in the statistics; open complaints will be closed. This "
        "cannot be undone.",
    },
    "button_forget_yes": {"vi": "Xóa dữ liệu của tôi", "en": "Erase my data"},
    "button_forget_no": {"vi": "Không xóa", "en": "Keep it"},
    "forget_cancelled": {"vi": "Dữ liệu của Ông/Bà được giữ nguyên.", "en": "Your data is kept as it was."},
    "forgotten": {
        "vi": "Đã xóa dữ liệu cá nhân của Ông/Bà. Đánh giá được giữ ở dạng ẩn danh: {answers}; phản "
        "ánh đang xử lý đã đóng: {cases}. Cảm ơn Ông/Bà đã sử dụng dịch vụ.",
        "en": "Your personal data is erased. Ratings kept without anything that identifies you: "
        "{answers}; open complaints closed: {cases}. Thank you for using the service.",
    },
    "forget_nothing": {
        "vi": "Hệ thống không còn lưu dữ liệu cá nhân nào của Ông/Bà qua cuộc trò chuyện này.",
        "en": "Nothing personal about you is kept through this chat any more.",
    },
    "command_mydata": {"vi": "Xem dữ liệu của tôi", "en": "See my data"},
    "command_forget": {"vi": "Xóa dữ liệu của tôi", "en": "Erase my data"},
    "command_privacy": {"vi": "Thông báo về dữ liệu cá nhân", "en": "About your personal data"},
    "case_withdrawn_note": {
        "vi": "Người dân rút phản ánh và yêu cầu xóa dữ liệu cá nhân.",
        "en": "The citizen withdrew the complaint and asked for their personal data to be erased.",
    },
    "case_retention_note": {
        "vi": "Hết thời hạn lưu trữ dữ liệu cá nhân.",
        "en": "The retention period of personal data ended.",
    },
    "ask_consent": {
        "vi": "Ông/Bà có đồng ý để chúng tôi xử lý dữ liệu như trên không?",
        "en": "Do you agree to your data being processed as above?",
    },
    "button_consent_yes": {"vi": "Đồng ý", "en": "I agree"},
    "button_consent_no": {"vi": "Không đồng ý", "en": "I do not agree"},
    "consent_refused": {
        "vi": "Chúng tôi tôn trọng quyết định của Ông/Bà: không lưu gì ngoài việc Ông/Bà đã từ chối. Nếu "
        "đổi ý, Ông/Bà quét lại mã QR trên phiếu hẹn hoặc gửi lại mã khảo sát.",
        "en": "We respect your choice: nothing is kept except that you declined. If you change your mind, "
        "scan the QR code on your receipt again or send the survey code again.",
    },
    "button_delegate_extension": {"vi": "Giao cán bộ gia hạn", "en": "Hand to a staff member"},
    "typed_delegate_extension": {
        "vi": "Để giao cán bộ gia hạn, gõ: giao gia han {id}",
        "en": "To hand it to a staff member, type: delegate {id}",
    },
    "choose_extension_staff": {
        "vi": "Giao cán bộ nào ghi lý do và ngày hẹn mới của hồ sơ {code}?",
        "en": "Who should write the reason and the new date for dossier {code}?",
    },
    "no_staff_to_extend": {
        "vi": "{unit} chưa có cán bộ nào trong danh bạ để giao; Ông/Bà có thể tự gia hạn hồ sơ.",
        "en": "{unit} has no staff in the directory to hand it to; you can extend the dossier yourself.",
    },
    "extension_delegated": {
        "vi": "Đã giao {name} gia hạn hồ sơ {code}; cán bộ sẽ nhận tin nhắn kèm nút gia hạn.",
        "en": "{name} will extend dossier {code}; they get a message with the button to do it.",
    },
    "extension_delegated_already": {
        "vi": "Hồ sơ {code} đã được giao {name} gia hạn từ trước.",
        "en": "Dossier {code} was handed to {name} already.",
    },
    "alert_forwarded": {
        "vi": "Tin này dành cho Thủ trưởng {unit}, nhưng đơn vị chưa có Thủ trưởng trong danh bạ hoặc "
        "không liên lạc được, nên được gửi đến Ông/Bà.",
        "en": "This is for the head of {unit}, who is not in the directory or cannot be reached, so it "
        "comes to you.",
    },
    "extension_delegated_alert": {
        "vi": "Thủ trưởng đơn vị giao Ông/Bà gia hạn hồ sơ {code} · {procedure} (hẹn trả {due}). "
        "Nhấn nút dưới đây để ghi lý do trễ hạn và ngày hẹn mới; người dân sẽ nhận thư xin lỗi.",
        "en": "Your head of unit asks you to extend dossier {code} · {procedure} (due {due}). "
        "Press the button below to write the reason and the new date; the citizen gets an apology letter.",
    },
    "rescheduled_twice_alert": {
        "vi": "⚠️ {unit}: hồ sơ {code} · {procedure} vừa được gia hạn thêm lần nữa "
        "(lý do: {reason}; hẹn mới {day}). Quy định chỉ cho phép gia hạn một lần.",
        "en": "⚠️ {unit}: dossier {code} · {procedure} was just rescheduled again "
        "(reason: {reason}; new date {day}). The rules allow one extension only.",
    },
    "digest_letters": {
        "vi": "Thư xin lỗi ngày {yesterday}: {sent} thư (muộn {late}){twice}\nHồ sơ trễ hẹn chưa có thư "
        "xin lỗi: {missing} · Hồ sơ đến hạn ngày làm việc tới: {at_risk}",
        "en": "Apology letters on {yesterday}: {sent} ({late} late){twice}\nLate dossiers without an "
        "apology letter: {missing} · Due next working day: {at_risk}",
    },
    "digest_rescheduled_twice": {
        "vi": " · Gia hạn lần hai: {count}",
        "en": " · Rescheduled twice: {count}",
    },
    "digest_missing_title": {
        "vi": "Hồ sơ đã trễ hẹn mà chưa có thư xin lỗi (gia hạn để gửi thư, dù đã muộn):",
        "en": "Late dossiers without an apology letter (extend them to send one, late as it is):",
    },
    "missing_more": {
        "vi": "Còn {count} hồ sơ trễ hẹn khác chưa có thư (số {ids}): gõ «gia han» và số hồ sơ để gia hạn.",
        "en": "{count} more late dossiers without a letter (numbers {ids}): type «extend» and the number.",
    },
    "digest_children_missing_title": {
        "vi": "Đơn vị cấp dưới có hồ sơ trễ hẹn chưa có thư xin lỗi:",
        "en": "Units below with late dossiers and no apology letter:",
    },
    "children_missing_line": {"vi": "• {unit}: {count} hồ sơ", "en": "• {unit}: {count} dossiers"},
    "digest_missed_line": {
        "vi": "• Báo cáo ngày {day} không gửi được ({why})",
        "en": "• The digest of {day} was not delivered ({why})",
    },
    "undelivered_line": {"vi": "• #{id}: {what} — {why}", "en": "• #{id}: {what} — {why}"},
    "undelivered_assigned": {
        "vi": "báo người dân phản ánh đã được giao cho cán bộ",
        "en": "telling the citizen the complaint was assigned",
    },
    "undelivered_resolved": {
        "vi": "hỏi người dân phản ánh đã được giải quyết chưa",
        "en": "asking the citizen whether the complaint was resolved",
    },
    "undelivered_message": {
        "vi": "tin nhắn của cán bộ gửi người dân",
        "en": "the staff member's message to the citizen",
    },
    "undelivered_reply": {
        "vi": "trả lời của người dân gửi cán bộ",
        "en": "the citizen's reply to the staff member",
    },
    "undelivered_to_staff": {
        "vi": "báo cán bộ được giao xử lý",
        "en": "telling the staff member the complaint was assigned to them",
    },
    "undelivered_reopened": {
        "vi": "báo phản ánh bị mở lại",
        "en": "telling the head the complaint was reopened",
    },
    "undelivered_notice": {"vi": "một thông báo về phản ánh", "en": "a notice about the complaint"},
    "undelivered_blocked": {"vi": "người nhận đã chặn bot", "en": "the recipient blocked the bot"},
    "undelivered_refused": {
        "vi": "nền tảng từ chối tin nhắn",
        "en": "the platform refused the message",
    },
    "undelivered_nobody": {"vi": "không liên lạc được với ai", "en": "nobody could be reached"},
    "undelivered_not_accepted": {
        "vi": "nền tảng không nhận sau nhiều lần thử",
        "en": "the platform did not take it after several tries",
    },
    "case_line": {
        "vi": "• #{id} {dossier} · {procedure} · hạn {deadline}{assignee}",
        "en": "• #{id} {dossier} · {procedure} · due {deadline}{assignee}",
    },
    # Apology letters for late dossiers (handlers/letters.py). `apology_letter` is the body, from the
    # greeting to the closing; the title, the date and the signature are laid out around it. Admins
    # may replace it (config letters.template) using the placeholders listed in handlers/letters.py.
    "apology_letter": {
        "vi": "Kính gửi {citizen},\n\n"
        "{unit} đã tiếp nhận hồ sơ của Ông/Bà:\n"
        "• Thủ tục: {procedure}\n"
        "• Mã hồ sơ: {code}\n"
        "• Ngày tiếp nhận: {received}\n"
        "• Ngày hẹn trả kết quả: {due}\n"
        "• Tình trạng hiện nay: {state}\n\n"
        "Tuy nhiên, {unit} chưa thể trả kết quả cho Ông/Bà đúng ngày hẹn.\n"
        "Lý do: {reason}\n\n"
        "Sự chậm trễ này đã gây phiền hà cho Ông/Bà. {unit} thành thật xin lỗi Ông/Bà và mong nhận "
        "được sự thông cảm của Ông/Bà.\n\n"
        "{unit} xin hẹn trả kết quả cho Ông/Bà vào ngày {new_due}.\n\n"
        "Trân trọng cảm ơn sự hợp tác của Ông/Bà.",
        "en": "Dear {citizen},\n\n"
        "{unit} received your application:\n"
        "• Procedure: {procedure}\n"
        "• Application code: {code}\n"
        "• Received on: {received}\n"
        "• Result promised for: {due}\n"
        "• Where it stands: {state}\n\n"
        "{unit} cannot return the result to you on the date promised.\n"
        "Reason: {reason}\n\n"
        "We sincerely apologise for the delay and the trouble it causes you, and ask for your "
        "understanding.\n\n"
        "Your result will be ready on {new_due}.\n\n"
        "Thank you for your patience.",
    },
    "letter_title": {"vi": "THƯ XIN LỖI", "en": "LETTER OF APOLOGY"},
    "letter_nation": {"vi": "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "en": "SOCIALIST REPUBLIC OF VIET NAM"},
    "letter_motto": {"vi": "Độc lập - Tự do - Hạnh phúc", "en": "Independence - Freedom - Happiness"},
    "letter_dated": {"vi": "Ngày {date}", "en": "{date}"},
    "letter_head_of": {"vi": "Thủ trưởng {unit}", "en": "Head of {unit}"},
    "letter_citizen": {"vi": "Ông/Bà {name}", "en": "{name}"},
    "letter_citizen_unnamed": {"vi": "Ông/Bà", "en": "Sir or Madam"},
    "letter_no_date": {"vi": "chưa ghi nhận", "en": "not recorded"},
    "letter_state_processing": {"vi": "đang được giải quyết", "en": "being processed"},
    "letter_state_supplement": {"vi": "chờ bổ sung hồ sơ", "en": "waiting for additional documents"},
    "letter_state_suspended": {"vi": "tạm dừng giải quyết", "en": "processing suspended"},
    "letter_state_withdrawn": {"vi": "đã rút theo đề nghị của Ông/Bà", "en": "withdrawn at your request"},
    "letter_state_returned": {"vi": "đã trả kết quả", "en": "result returned"},
    # Admins.
    "admin_only_file": {
        "vi": "Xin lỗi, bot không nhận tệp từ Ông/Bà. Chỉ quản trị viên được gửi tệp cấu hình.",
        "en": "Sorry, the bot does not take files from you. Only admins send configuration files.",
    },
    "admin_only": {
        "vi": "Xin lỗi, lệnh này chỉ dành cho quản trị viên.",
        "en": "Sorry, this command is for admins only.",
    },
    "file_unreadable": {
        "vi": "Không đọc được tệp «{name}»: tệp cần là văn bản YAML (UTF-8), dưới 256 KB.",
        "en": "Cannot read «{name}»: it must be a YAML text file (UTF-8) under 256 KB.",
    },
    "file_refused": {
        "vi": "Tệp «{name}» không được nhận, chưa có gì thay đổi: {problem}",
        "en": "The file «{name}» is refused; nothing changed: {problem}",
    },
    # Why a YAML file is not read at all (handlers/yaml_safe.py).
    "yaml_alias": {
        "vi": "tệp dùng neo hoặc bí danh YAML (&tên, *tên); bot không nhận chúng, xin viết đầy đủ từng mục.",
        "en": "the file uses a YAML anchor or alias (&name, *name), which the bot does not accept; please "
        "write each entry out in full.",
    },
    "yaml_depth": {
        "vi": "các mục lồng nhau quá sâu (quá {limit} tầng).",
        "en": "entries are nested too deeply (more than {limit} levels).",
    },
    "yaml_size": {
        "vi": "tệp quá lớn ({size} ký tự; tối đa {limit} ký tự).",
        "en": "the file is too large ({size} characters; at most {limit}).",
    },
    "qs_invalid": {
        "vi": "Bộ câu hỏi «{name}» chưa hợp lệ, chưa có gì thay đổi:\n{problems}",
        "en": "The question set «{name}» is not valid; nothing changed:\n{problems}",
    },
    "qs_imported": {
        "vi": "Đã lưu bộ câu hỏi {set} phiên bản {version} (chưa kích hoạt). Người dân sẽ thấy như sau:",
        "en": "Stored question set {set} version {version} (not active yet). Citizens will see:",
    },
    "qs_renumbered": {
        "vi": "Tệp ghi phiên bản {declared}; bộ câu hỏi được lưu thành {set} phiên bản {version} (chưa kích "
        "hoạt), vì số phiên bản được đánh theo thứ tự và không bao giờ dùng lại cho nội dung khác. "
        "Người dân sẽ thấy như sau:",
        "en": "The file says version {declared}; it is stored as {set} version {version} (not active yet), "
        "since versions are numbered in order and a number is never reused for other content. "
        "Citizens will see:",
    },
    "qs_is_default": {
        "vi": "Tệp này giống hệt bộ câu hỏi mặc định ({set} phiên bản {version}) mà người dân đang được hỏi, "
        "nên không có gì để lưu. Hãy sửa nội dung rồi gửi lại.",
        "en": "This file is the same as the default question set ({set} version {version}) that citizens "
        "are asked already, so there is nothing to store. Change it and send it again.",
    },
    "qs_default_line": {
        "vi": "Mặc định: {set} v{version} · hỏi ở nơi không có bộ câu hỏi nào khác đang dùng",
        "en": "Default: {set} v{version} · asked wherever no other active set applies",
    },
    "qs_unchanged": {
        "vi": "Bộ câu hỏi này giống hệt {set} phiên bản {version} đã có. Người dân sẽ thấy như sau:",
        "en": "This question set is the same as {set} version {version}. Citizens will see:",
    },
    "qs_scope": {"vi": "Phạm vi áp dụng: {scope}", "en": "Applies to: {scope}"},
    "qs_everywhere": {"vi": "mọi đơn vị, mọi thủ tục", "en": "every unit and procedure"},
    "qs_shown_after": {"vi": "(hỏi khi đánh giá: {ratings})", "en": "(asked after: {ratings})"},
    "qs_free_text": {
        "vi": "(trả lời bằng chữ, tối đa {limit} ký tự)",
        "en": "(answered in words, at most {limit} characters)",
    },
    "button_activate": {"vi": "Kích hoạt", "en": "Activate"},
    "qs_activated": {
        "vi": "Đã kích hoạt {set} phiên bản {version}. "
        "Các khảo sát mới trong phạm vi sẽ dùng bộ câu hỏi này.",
        "en": "{set} version {version} is active. New surveys in its scope use it.",
    },
    "qs_none": {
        "vi": "Chưa có bộ câu hỏi nào được nhập; người dân được hỏi bộ mặc định.",
        "en": "No question sets imported; citizens get the default set.",
    },
    "qs_line": {
        "vi": "#{id} {set} v{version} · {state} · {answers} ý kiến · {scope}",
        "en": "#{id} {set} v{version} · {state} · {answers} answers · {scope}",
    },
    "qs_active": {"vi": "đang dùng", "en": "active"},
    "qs_inactive": {"vi": "không dùng", "en": "inactive"},
    "dir_preview": {
        "vi": "Thay đổi danh bạ từ «{name}» (chưa áp dụng):\n{lines}\n\nĐơn vị rời khỏi cây được lưu trữ, "
        "phản ánh đang mở chuyển sang đơn vị ghi sau dấu →.",
        "en": "Directory changes from «{name}» (not applied yet):\n{lines}\n\nUnits that leave the tree are "
        "retired; their open complaints move to the unit after →.",
    },
    "role_head": {"vi": "thủ trưởng", "en": "head"},
    "role_staff": {"vi": "cán bộ", "en": "staff"},
    "dir_none": {"vi": "Danh bạ không có gì thay đổi.", "en": "Nothing in the directory changes."},
    "dir_invalid": {
        "vi": "Tệp danh bạ «{name}» chưa áp dụng được, chưa có gì thay đổi:\n{problem}",
        "en": "The directory file «{name}» cannot be applied; nothing changed:\n{problem}",
    },
    "dir_applied": {
        "vi": "Đã áp dụng danh bạ mới: {summary}.",
        "en": "The new directory is applied: {summary}.",
    },
    "dir_already": {
        "vi": "Thay đổi này đã được áp dụng trước đó.",
        "en": "This change was applied already.",
    },
    "button_apply": {"vi": "Áp dụng", "en": "Apply"},
    "error_dir_units": {
        "vi": "danh bạ có {count} đơn vị; tối đa {limit}",
        "en": "the directory has {count} units; at most {limit}",
    },
    "error_dir_depth": {
        "vi": "cây đơn vị sâu {depth} tầng; tối đa {limit} (đến {code})",
        "en": "the unit tree is {depth} levels deep; at most {limit} (down to {code})",
    },
    # Problems in a question-set file, by the kind of error (pydantic's, or the set's own rules).
    "error_line": {"vi": "dòng {line}, ", "en": "line {line}, "},
    "error_missing": {"vi": "thiếu mục bắt buộc", "en": "Field required"},
    "error_extra_forbidden": {
        "vi": "khóa không được phép (kiểm tra chính tả)",
        "en": "Extra inputs are not permitted",
    },
    "error_literal_error": {
        "vi": "giá trị phải là một trong: {expected}",
        "en": "Input should be {expected}",
    },
    "error_enum": {"vi": "giá trị phải là một trong: {expected}", "en": "Input should be {expected}"},
    "error_string_pattern_mismatch": {
        "vi": "chỉ dùng chữ thường không dấu, số, - và _ (mẫu {pattern})",
        "en": "String should match pattern '{pattern}'",
    },
    "error_string_too_short": {
        "vi": "không được để trống (ít nhất {min_length} ký tự)",
        "en": "String should have at least {min_length} character",
    },
    "error_int_parsing": {"vi": "phải là một số nguyên", "en": "Input should be a valid integer"},
    "error_greater_than_equal": {
        "vi": "phải lớn hơn hoặc bằng {ge}",
        "en": "Input should be greater than or equal to {ge}",
    },
    "error_less_than_equal": {
        "vi": "phải nhỏ hơn hoặc bằng {le}",
        "en": "Input should be less than or equal to {le}",
    },
    "error_qs_text_options": {
        "vi": "câu hỏi {question}: câu hỏi trả lời bằng chữ không có phương án",
        "en": "question {question}: a text question has no options",
    },
    "error_qs_option_count": {
        "vi": "câu hỏi {question}: cần từ 2 đến 8 phương án",
        "en": "question {question}: give between 2 and 8 options",
    },
    "error_qs_option_ids": {
        "vi": "câu hỏi {question}: mã phương án không được trùng nhau",
        "en": "question {question}: option ids must be unique",
    },
    "error_qs_rating_options": {
        "vi": "câu hỏi {question}: mỗi phương án cần một mức (satisfied, neutral, unsatisfied) và mỗi mức "
        "cần ít nhất một phương án",
        "en": "question {question}: every option needs a rating, and every rating (satisfied, neutral, "
        "unsatisfied) needs an option",
    },
    "error_qs_first_rating": {
        "vi": "câu hỏi đầu tiên phải là câu hỏi đánh giá (type: rating)",
        "en": "the first question must be the rating question (type: rating)",
    },
    "error_qs_one_rating": {
        "vi": "phải có đúng một câu hỏi đánh giá",
        "en": "there must be exactly one rating question",
    },
    "error_qs_question_ids": {"vi": "mã câu hỏi không được trùng nhau", "en": "question ids must be unique"},
    "error_too_long": {
        "vi": "tối đa {max_length} mục (tệp có {actual_length})",
        "en": "at most {max_length} items (the file has {actual_length})",
    },
    "error_string_too_long": {
        "vi": "dài tối đa {max_length} ký tự",
        "en": "String should have at most {max_length} characters",
    },
    "error_more": {"vi": "… và {count} lỗi khác", "en": "… and {count} more problems"},
    "error_qs_too_many": {
        "vi": "người dân chọn {rating} sẽ phải trả lời {asked} câu hỏi; tối đa {limit}",
        "en": "a citizen who answers {rating} would get {asked} questions; at most {limit}",
    },
    # Reports in the chat (issue 14): /report gives a head their unit's last 30 days.
    "report_not_allowed": {
        "vi": "Lệnh /report dành cho thủ trưởng đơn vị và quản trị viên.",
        "en": "/report is for heads of units and admins.",
    },
    "report_summary_head": {
        "vi": "Báo cáo {unit}, {first} – {last}: {answers} ý kiến đánh giá.",
        "en": "Report of {unit}, {first} – {last}: {answers} answers.",
    },
    "report_summary_shares": {
        "vi": "Hài lòng {satisfied}%, bình thường {neutral}%, không hài lòng {unsatisfied}%"
        " (hài lòng hoặc bình thường {both}%).",
        "en": "Satisfied {satisfied}%, neutral {neutral}%, unsatisfied {unsatisfied}%"
        " (satisfied or neutral {both}%).",
    },
    "report_summary_too_few": {
        "vi": "Quá ít ý kiến để so sánh tỷ lệ (cần ít nhất {least}).",
        "en": "Too few answers to compare shares (at least {least} needed).",
    },
    "report_summary_complaints": {
        "vi": "Phản ánh: {opened} mới, {on_time} giải quyết đúng hạn, {overdue} quá hạn, {reopened} mở lại.",
        "en": "Complaints: {opened} opened, {on_time} resolved on time, {overdue} overdue,"
        " {reopened} reopened.",
    },
}


def text(key: str, language: Language, **values: object) -> str:
    """The catalog text for `key` in `language`, with `values` filled in."""
    template = CATALOG[key][language]
    return template.format(**values) if values else template


def language_of(code: str | None, default: Language) -> Language:
    """A platform's language code ("vi", "en-US") mapped onto the languages the bot speaks."""
    if code:
        prefix = code.split("-", 1)[0].lower()
        for language in LANGUAGES:
            if prefix == language:
                return language
    return default
