"""A report as files people open: an Excel workbook (a sheet per grouping with its table, shares as
percentages, the header frozen, a native stacked bar chart of the three shares per row, and a sheet
stating the period, the filters and the formulas) and a PNG chart drawn with matplotlib's Agg
backend in the DejaVu font shipped in bot/fonts (it has every Vietnamese diacritic).

Text cells go through the CSV export's formula neutralisation: unit and procedure names are data."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bot.cli.output import neutralised
from handlers.reports import FORMULAS, NO_DATA, Report, ReportRow, label
from handlers.texts import Language
from storage.records import Rating

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FONTS = Path(__file__).resolve().parent / "fonts"
PERCENT = "0.00%"
# The chart of a report by unit shows the report's top unit and the units right under it (a city's
# 371 units are not one readable picture); other groupings show their largest rows.
MAX_CHART_ROWS = 40
COLOURS = ("#2e7d32", "#f9a825", "#c62828")  # satisfied, neutral, unsatisfied

HEADINGS: dict[str, tuple[str, str]] = {  # (vi, en)
    "unit": ("Đơn vị", "Unit"),
    "procedure": ("Thủ tục", "Procedure"),
    "channel": ("Kênh", "Channel"),
    "month": ("Tháng", "Month"),
    "factor": ("Yếu tố", "Factor"),
    "code": ("Mã", "Code"),
    "answers": ("Số ý kiến", "Answers"),
    "satisfied": ("Hài lòng", "Satisfied"),
    "neutral": ("Bình thường", "Neutral"),
    "unsatisfied": ("Không hài lòng", "Unsatisfied"),
    "satisfied_pct": ("% hài lòng", "% satisfied"),
    "neutral_pct": ("% bình thường", "% neutral"),
    "unsatisfied_pct": ("% không hài lòng", "% unsatisfied"),
    "satisfied_or_neutral_pct": ("% hài lòng hoặc bình thường", "% satisfied or neutral"),
    "returned": ("Hồ sơ đã trả", "Dossiers returned"),
    "response_rate_pct": ("Tỷ lệ phản hồi", "Response rate"),
    "complaints": ("Phản ánh", "Complaints"),
    "resolved_on_time": ("Giải quyết đúng hạn", "Resolved on time"),
    "overdue": ("Quá hạn", "Overdue"),
    "reopened": ("Mở lại", "Reopened"),
    "median_hours_to_resolve": ("Trung vị giờ giải quyết", "Median hours to resolve"),
    "on_time_pct": ("% phản ánh đúng hạn", "% complaints on time"),
    "complaint_satisfaction_pct": ("Hài lòng xử lý phản ánh", "Complaint handling satisfaction"),
    "dossier_satisfaction_pct": ("Hài lòng giải quyết hồ sơ", "Dossier handling satisfaction"),
    "note": ("Ghi chú", "Note"),
    "named": ("Số lần được nêu", "Times named"),
    "named_pct": ("% ý kiến nêu", "% of answers naming it"),
    "unsatisfied_named_pct": ("% ý kiến không hài lòng nêu", "% of unsatisfied answers naming it"),
}
SHEET_NAMES: dict[str, tuple[str, str]] = {
    "unit": ("Theo đơn vị", "By unit"),
    "procedure": ("Theo thủ tục", "By procedure"),
    "factor": ("Theo yếu tố", "By factor"),
    "channel": ("Theo kênh", "By channel"),
    "month": ("Theo tháng", "By month"),
    "about": ("Thông tin", "About"),
}
TOO_FEW = {"vi": "quá ít ý kiến để so sánh", "en": "too few answers to compare"}


def words(table: dict[str, tuple[str, str]], key: str, language: Language) -> str:
    found = table[key]
    return found[0] if language == "vi" else found[1]


def fraction(value: float | None) -> float | None:
    """A percentage as a spreadsheet's percent cell holds it (50.87 → 0.5087)."""
    return None if value is None else round(value / 100, 6)


@dataclass(frozen=True)
class Sheet:
    columns: list[str]
    rows: list[list[object]]
    percent_columns: set[str]


def table_sheet(report: Report, language: Language) -> Sheet:
    """The report's rows as a sheet's cells (percentages as fractions)."""
    if report.by == "factor":
        columns = ["factor", "code", "named", "named_pct", "satisfied", "neutral", "unsatisfied",
                   "unsatisfied_named_pct"]  # fmt: skip
        rows: list[list[object]] = [
            [f.label, f.factor, f.total, fraction(f.share_of()), f.named[Rating.SATISFIED],
             f.named[Rating.NEUTRAL], f.named[Rating.UNSATISFIED], fraction(f.share_of(Rating.UNSATISFIED))]
            for f in report.factors
        ]  # fmt: skip
        return Sheet(columns, rows, {"named_pct", "unsatisfied_named_pct"})
    columns = [report.by, *(["code"] if report.by == "unit" else []), "answers", "satisfied", "neutral",
               "unsatisfied", "satisfied_pct", "neutral_pct", "unsatisfied_pct", "satisfied_or_neutral_pct",
               "returned", "response_rate_pct", "complaints", "resolved_on_time", "overdue", "reopened",
               "median_hours_to_resolve", "on_time_pct", "complaint_satisfaction_pct",
               "dossier_satisfaction_pct", "note"]  # fmt: skip
    shown = [*report.rows, *([] if report.total in report.rows else [report.total])]
    rows = [_cells(r, report.by, language) for r in shown]
    return Sheet(columns, rows, {c for c in columns if c.endswith("_pct")})


def _cells(row: ReportRow, by: str, language: Language) -> list[object]:
    shares = row.shares or (None, None, None)
    r, c = row.ratings, row.complaints
    name = ("  " * row.depth + row.label) if by == "unit" else row.label
    return [
        name, *([row.key] if by == "unit" else []), r.answers, r.satisfied, r.neutral, r.unsatisfied,
        fraction(shares[0]), fraction(shares[1]), fraction(shares[2]), fraction(row.satisfied_or_neutral),
        row.returned.returned if row.returned else None, fraction(row.response_rate), c.opened,
        c.resolved_on_time, c.overdue, c.reopened, row.median_hours_to_resolve, fraction(row.on_time_share),
        fraction(row.complaint_satisfaction), fraction(row.dossier_satisfaction),
        TOO_FEW[language] if row.too_few and r.answers else None,
    ]  # fmt: skip


def about_rows(report: Report, min_answers: int, language: Language) -> list[list[object]]:
    """The period, the filters and the formulas, with the total's figures."""
    vi = language == "vi"
    total = report.total
    figures = {
        "on_time_share": total.on_time_share,
        "complaint_satisfaction": total.complaint_satisfaction,
        "dossier_satisfaction": total.dossier_satisfaction,
        "satisfied_or_neutral": total.satisfied_or_neutral,
        "response_rate": total.response_rate,
    }
    rows: list[list[object]] = [
        ["Kỳ báo cáo" if vi else "Period", f"{report.first:%d/%m/%Y} – {report.last:%d/%m/%Y}"],
        ["Đơn vị" if vi else "Unit", report.unit_code or ("Toàn bộ cây đơn vị" if vi else "the whole tree")],
        ["Nhóm theo" if vi else "Grouped by", words(SHEET_NAMES, report.by, language)],
        ["Số ý kiến tối thiểu để so sánh" if vi else "Answers needed to compare shares", min_answers],
        ["Lập lúc" if vi else "Made at", report.made_at.isoformat(timespec="seconds")],
        [],
        ["Chỉ số (Quyết định 766/QĐ-TTg, nhóm 5)" if vi else "Figure (Decision 766/QĐ-TTg, group 5)",
         "Giá trị (toàn kỳ)" if vi else "Value (whole period)", "Công thức" if vi else "Formula"],
    ]  # fmt: skip
    for name, formula_vi, formula_en in FORMULAS:
        value = figures[name]
        rows.append([
            formula_vi.split(" = ")[0] if vi else formula_en.split(" = ")[0],
            fraction(value) if value is not None else NO_DATA[language],
            formula_vi if vi else formula_en,
        ])  # fmt: skip
    return rows


def write_xlsx(reports: Sequence[Report], path: Path, min_answers: int, language: Language) -> None:
    """A sheet per report (grouping), then the sheet about them (of the first)."""
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for report in reports:
        sheet = table_sheet(report, language)
        ws = book.create_sheet(words(SHEET_NAMES, report.by, language))
        _write_table(ws, sheet, language)
        if report.by != "factor" and sheet.rows:
            _share_chart(ws, sheet, report, language)
    about = book.create_sheet(words(SHEET_NAMES, "about", language))
    for values in about_rows(reports[0], min_answers, language):
        about.append([neutralised(v) if isinstance(v, str) else v for v in values])
        if len(values) > 1 and isinstance(values[1], float):
            about.cell(row=about.max_row, column=2).number_format = PERCENT
    about.column_dimensions["A"].width = 44
    about.column_dimensions["B"].width = 28
    about.column_dimensions["C"].width = 120
    book.save(path)


def _write_table(ws: Worksheet, sheet: Sheet, language: Language) -> None:
    ws.append([words(HEADINGS, c, language) for c in sheet.columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for values in sheet.rows:
        ws.append([neutralised(v) if isinstance(v, str) else v for v in values])
    for n, column in enumerate(sheet.columns, 1):
        letter = get_column_letter(n)
        ws.column_dimensions[letter].width = 36 if n == 1 else 16
        if column in sheet.percent_columns:
            for cell in ws[letter][1:]:
                cell.number_format = PERCENT
    ws.freeze_panes = "B2"


def _share_chart(ws: Worksheet, sheet: Sheet, report: Report, language: Language) -> None:
    """A 100% stacked horizontal bar of the three shares of every row of the table."""
    first = sheet.columns.index("satisfied_pct") + 1
    last_row = len(sheet.rows) + 1
    chart = BarChart()
    chart.type = "bar"
    chart.grouping = "percentStacked"
    chart.overlap = 100
    chart.title = chart_title(report, language)
    data = Reference(ws, min_col=first, max_col=first + 2, min_row=1, max_row=last_row)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=last_row))
    for series, colour in zip(chart.series, COLOURS, strict=True):
        series.graphicalProperties.solidFill = colour[1:]
    chart.height = max(8.0, 0.6 * len(sheet.rows))
    chart.width = 24
    ws.add_chart(chart, f"{get_column_letter(len(sheet.columns) + 2)}2")


def chart_title(report: Report, language: Language) -> str:
    period = f"{report.first:%d/%m/%Y} – {report.last:%d/%m/%Y}"
    if report.by == "factor":
        if language == "vi":
            return f"Điều chưa hài lòng theo yếu tố SIPAS, {period}"
        return f"What fell short, by SIPAS factor, {period}"
    if language == "vi":
        what = {
            "unit": "đơn vị",
            "procedure": "thủ tục",
            "channel": "kênh",
            "month": "tháng",
            "factor": "yếu tố",
        }
        return f"Mức độ hài lòng theo {what[report.by]}, {period}"
    return f"Satisfaction by {report.by}, {period}"


def chart_rows(report: Report) -> list[ReportRow]:
    """The rows a picture shows: by unit, the top unit and those right under it; else the largest."""
    if report.by == "unit":
        rows = [r for r in report.rows if r.depth <= 1]
    elif report.by == "month":
        rows = list(report.rows)
    else:
        rows = sorted(report.rows, key=lambda r: -r.ratings.answers)
    return [r for r in rows if r.ratings.answers][:MAX_CHART_ROWS]


def draw_png(report: Report, language: Language) -> bytes:
    """The report as a picture: a 100% stacked bar per row with the shares printed (by unit,
    procedure, channel), the monthly trend of satisfied and unsatisfied, or the factors named.
    matplotlib is imported here, not with the command line: only pictures need it."""
    import matplotlib
    from matplotlib import font_manager
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for font in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        font_manager.fontManager.addfont(str(FONTS / font))
    names = [label(r.value, language) for r in Rating]
    with matplotlib.rc_context({"font.family": "DejaVu Sans", "font.size": 9}):
        if report.by == "factor":
            fig = _factor_figure(report, names, language)
        elif report.by == "month":
            fig = _trend_figure(report, names, language)
        else:
            fig = _share_figure(report, names, language)
        FigureCanvasAgg(fig)
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=100)
    return out.getvalue()


def _share_figure(report: Report, names: list[str], language: Language) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    rows = chart_rows(report)
    labels = [r.label for r in rows] or ["—"]
    shares = [r.shares or (0.0, 0.0, 0.0) for r in rows] or [(0.0, 0.0, 0.0)]
    fig = Figure(figsize=(10, max(3.0, 0.45 * len(labels) + 1.8)))
    ax = fig.subplots()
    left = [0.0] * len(labels)
    for level, (name, colour) in enumerate(zip(names, COLOURS, strict=True)):
        widths = [s[level] for s in shares]
        bars = ax.barh(labels, widths, left=left, color=colour, label=name)
        ax.bar_label(bars, labels=[f"{w:.2f}%" if w >= 6 else "" for w in widths], label_type="center",
                     color="white", fontsize=8)  # fmt: skip
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.xaxis.set_major_formatter(PercentFormatter())
    ax.set_title(chart_title(report, language))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=3, frameon=False)
    fig.tight_layout()
    return fig


def _trend_figure(report: Report, names: list[str], language: Language) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    rows = [(r.key, r.shares) for r in report.rows if r.shares]
    fig = Figure(figsize=(10, 5))
    ax = fig.subplots()
    for level, colour in ((0, COLOURS[0]), (2, COLOURS[2])):
        ax.plot(
            [k for k, _ in rows], [s[level] for _, s in rows], marker="o", color=colour, label=names[level]
        )
    ax.set_ylim(0, 100)
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_title(chart_title(report, language))
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _factor_figure(report: Report, names: list[str], language: Language) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    factors = report.factors
    fig = Figure(figsize=(10, 5))
    ax = fig.subplots()
    left = [0] * len(factors)
    for rating, name, colour in zip(Rating, names, COLOURS, strict=True):
        counts = [f.named[rating] for f in factors]
        ax.barh([f.label for f in factors], counts, left=left, color=colour, label=name)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(
        "Số lần được nêu là điều chưa hài lòng" if language == "vi" else "Times named as what fell short"
    )
    ax.set_title(chart_title(report, language))
    ax.legend()
    fig.tight_layout()
    return fig
