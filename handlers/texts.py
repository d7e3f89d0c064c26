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
    "expired_link": {
        "vi": "Xin lỗi, đường dẫn khảo sát này đã hết hạn. Cảm ơn Ông/Bà đã quan tâm.",
        "en": "Sorry, this survey link has expired. Thank you for your interest.",
    },
    "welcome": {
        "vi": "Kính chào Ông/Bà! Đây là kênh lấy ý kiến người dân về việc giải quyết thủ tục hành "
        "chính. Để đánh giá, Ông/Bà vui lòng quét mã QR trên phiếu hẹn trả kết quả.",
        "en": "Hello! This is where citizens give feedback on how their administrative procedures "
        "were handled. To rate a service, please scan the QR code on your receipt.",
    },
    "help": {
        "vi": "Bot lấy ý kiến người dân về việc giải quyết thủ tục hành chính.\n"
        "• Quét mã QR trên phiếu hẹn trả kết quả để đánh giá hồ sơ của Ông/Bà.\n"
        "• Trả lời bằng cách bấm nút (hoặc gõ số thứ tự).\n"
        "• /language: đổi ngôn ngữ (Tiếng Việt / English).\n"
        "• /help: xem hướng dẫn này.",
        "en": "This bot collects citizens' feedback on administrative services.\n"
        "• Scan the QR code on your receipt to rate your application.\n"
        "• Answer by tapping a button (or typing its number).\n"
        "• /language: change language (Tiếng Việt / English).\n"
        "• /help: show this help.",
    },
    "outside_survey": {
        "vi": "Cảm ơn Ông/Bà đã nhắn tin. Hiện Ông/Bà không có phiếu khảo sát nào đang mở. Để đánh "
        "giá, Ông/Bà vui lòng quét mã QR trên phiếu hẹn trả kết quả. Gõ /help để xem hướng dẫn.",
        "en": "Thank you for your message. You have no survey open right now. To rate a service, "
        "please scan the QR code on your receipt. Send /help for help.",
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
