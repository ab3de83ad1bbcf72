"""The admin's console in a real browser, on a phone and a desktop: the evening post's wording edited with a live
preview on the team's real numbers, saved and used by the next evening post; a bad edit refused with its line
while the old version stays in use; a rollback; and an Excel file with one bad line that imports nothing, then
fixed, imports and is in the audit log.

These tests change the seeded organisation that the other browser tests share, so they touch only what no
other test reads: the evening template (reset to the default at the end) and people of their own.
Screenshots of each step go to $SALESBOT_SCREENSHOTS when set, else to pytest's tmp_path.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from playwright.sync_api import expect
from sqlalchemy import func, select

from bot.core.rendering import format_money
from jobs.runner import run_job
from models import AuditEntry, DailyReport, Goal, Person, Team, TemplateVersion
from services import templates as svc
from tests.console.browser.conftest import DESKTOP, PHONE, ConsolePage, Server
from tests.console.browser.test_layout_browser import check_layout

SIZES = pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
NAME, LOCALE = "evening_leaderboard", "zh-CN"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# each size's evening posts run on days of their own: a post's key is its team and day, sent once
EVENING_DAYS = {390: (date(2026, 11, 19), date(2026, 11, 20)), 1280: (date(2026, 11, 17), date(2026, 11, 18))}


def shots_dir(tmp_path: Path) -> Path:
    out = Path(os.environ.get("SALESBOT_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def shoot(view: ConsolePage, out: Path, name: str, viewport: dict[str, int]) -> None:
    size = "phone" if viewport == PHONE else "desktop"
    view.page.screenshot(path=out / f"{name}-{size}.png", full_page=True)


def in_use(server: Server) -> str:
    """The evening template's text the bot uses now (what every send renders)."""
    with server.app.db.unit_of_work() as s:
        return svc.current_source(session=s, name=NAME, locale=LOCALE)


def evening_post(server: Server, day: date) -> str:
    """Run the evening job for 上海一组 on `day` and return the post the console platform received."""
    port = server.app.outbox.ports["console"]
    before = len(port.sent)
    summary = run_job(db=server.app.db, settings=server.app.settings, clock=server.app.clock, name="evening",
                      team_codes=["sh1"], at=datetime.combine(day, datetime.min.time().replace(hour=18, minute=30),
                                                              SHANGHAI), outbox=server.app.outbox)
    assert summary.ran, summary
    posts = [e for e in port.sent[before:] if e.target_kind == "channel" and e.target == "sh1"
             and e.key.startswith(f"job:evening:sh1:{day.isoformat()}")]
    assert len(posts) == 1, [e.key for e in port.sent[before:]]
    return str(posts[0].payload["text"])


def best_seller(server: Server, day: date) -> tuple[str, str]:
    """上海一组's top signed amount on `day`, read from the reports table: (name, amount as the post shows it)."""
    with server.app.db.unit_of_work() as s:
        row = s.execute(select(Person.name, DailyReport.signed_amount).join(Person, Person.id == DailyReport.person_id)
                        .join(Team, Team.id == DailyReport.team_id)
                        .where(Team.code == "sh1", DailyReport.day == day, DailyReport.signed_amount > 0)
                        .order_by(DailyReport.signed_amount.desc())).first()
    assert row is not None, f"the demo has no signed amount in sh1 on {day}"
    return row[0], format_money(row[1], LOCALE)


def saved_version(view: ConsolePage) -> int:
    flash = view.page.get_by_role("status")
    expect(flash).to_contain_text("已保存为第")
    found = re.search(r"第 (\d+) 版", flash.inner_text())
    assert found, flash.inner_text()
    return int(found[1])


def type_text(view: ConsolePage, text: str) -> None:
    """Put a new text in the editor as typing does (an input event: the preview follows)."""
    view.page.locator("#text").fill(text)


@SIZES
def test_an_admin_edits_the_evening_post_on_real_numbers_a_bad_edit_is_refused_and_rollback_restores(
        open_as: Callable[..., ConsolePage], console_server: Server, viewport: dict[str, int],
        tmp_path: Path) -> None:
    out = shots_dir(tmp_path)
    size = "手机" if viewport == PHONE else "电脑"
    first_day, second_day = EVENING_DAYS[viewport["width"]]
    default = in_use(console_server)
    assert "今日战报" in default
    view = open_as("admin", "/console/templates", viewport=viewport)
    page = view.page
    check_layout(view, viewport)
    page.get_by_role("link", name=re.compile("^晚间排行榜")).click()
    page.wait_for_url(f"**/console/templates/{NAME}")
    expect(page.locator("#text")).to_have_value(default)
    check_layout(view, viewport)

    # the preview on a team and day the admin picks: 上海一组 on its last day with reports
    page.locator("select[name=team]").select_option("sh1")
    preview = page.locator("#preview [data-platform=console]")
    expect(preview).to_contain_text("上海一组 今日战报")
    day = date.fromisoformat(page.locator("input[name=day]").input_value())
    seller, amount = best_seller(console_server, day)
    expect(preview).to_contain_text(re.compile(rf"\d+\. {seller} {re.escape(amount)}"))

    # change the wording: the preview follows as the admin types, with the same real numbers
    first = default.replace("今日战报", f"晚报速递（{size}）")
    type_text(view, first)
    expect(preview).to_contain_text(f"上海一组 晚报速递（{size}）")
    expect(preview).to_contain_text(re.compile(rf"\d+\. {seller} {re.escape(amount)}"))
    for platform in ("slack", "wecom"):  # as each chat would show it
        expect(page.locator(f"#preview [data-platform={platform}]")).to_contain_text(f"晚报速递（{size}）")
    shoot(view, out, "template-preview", viewport)
    page.get_by_role("button", name="保存", exact=True).click()
    page.wait_for_url("**done=saved**")
    v_first = saved_version(view)
    expect(page.locator("p.status")).to_contain_text(f"正在使用：第 {v_first} 版（系统管理员")
    assert in_use(console_server) == first
    post = evening_post(console_server, first_day)
    assert f"上海一组 晚报速递（{size}）" in post and "今日战报" not in post
    check_layout(view, viewport)

    # a second wording, saved too: the one in use when the bad edits come
    second = first.replace("团队今日合计", "全组合计")
    type_text(view, second)
    expect(preview).to_contain_text("全组合计")
    page.get_by_role("button", name="保存", exact=True).click()
    page.wait_for_url("**done=saved**")
    v_second = saved_version(view)
    assert v_second == v_first + 1 and in_use(console_server) == second

    # an unclosed {% if %}: the preview says it cannot be saved, and saving is refused with the line
    lines = second.split("\n")
    unclosed = "\n".join([*lines[:2], "{% if missing %}", *lines[2:]])
    type_text(view, unclosed)
    expect(page.locator("#preview .problem")).to_contain_text("这段文字还不能保存")
    page.get_by_role("button", name="保存", exact=True).click()
    refusal = page.locator("#refused")
    expect(refusal).to_contain_text("没有保存")
    expect(refusal).to_contain_text(re.compile(r"第 \d+ 行"))
    expect(refusal).to_contain_text("销售助手仍在使用原来的版本")
    expect(page.locator("#text")).to_have_value(unclosed)  # the text stays to be fixed
    assert in_use(console_server) == second

    # an unknown variable on line 3: refused, the line shown and marked, a close name suggested
    typo = "\n".join([*lines[:2], "{{ tema }} 的战报", *lines[2:]])
    type_text(view, typo)
    expect(page.locator("#preview .problem")).to_contain_text("第 3 行")
    page.get_by_role("button", name="保存", exact=True).click()
    expect(refusal).to_contain_text("第 3 行")
    expect(refusal).to_contain_text("tema")
    expect(refusal.locator("li.bad")).to_have_text("{{ tema }} 的战报")
    expect(refusal).to_contain_text("team")  # did you mean
    shoot(view, out, "template-refused", viewport)
    check_layout(view, viewport)
    with console_server.app.db.unit_of_work() as s:
        assert s.scalar(select(func.max(TemplateVersion.version)).where(
            TemplateVersion.name == NAME, TemplateVersion.locale == LOCALE)) == v_second  # nothing stored
    assert in_use(console_server) == second
    post = evening_post(console_server, second_day)  # the next evening post: the version in use, not the refused
    assert "全组合计" in post and "tema" not in post

    # the history compares and restores: the first wording comes back as the newest version
    page.goto(f"{console_server.url}/console/templates/{NAME}?locale={LOCALE}")
    history = page.locator("#history tbody tr")
    row = history.filter(has=page.locator("td.num", has_text=re.compile(rf"^{v_first}\b")))
    row.get_by_role("link", name="对比").click()
    page.wait_for_url("**/diff?**")
    expect(page.locator("table.diff")).to_contain_text("全组合计")
    check_layout(view, viewport)
    page.go_back()
    row.get_by_role("button", name="恢复这一版").click()
    page.wait_for_url("**done=restored**")
    expect(page.get_by_role("status")).to_contain_text(f"已恢复第 {v_first} 版")
    expect(page.locator("p.status")).to_contain_text(f"正在使用：第 {v_second + 1} 版")
    expect(page.locator("#text")).to_have_value(first)
    assert in_use(console_server) == first

    # back to the default, so the other tests see the organisation as seeded
    page.get_by_role("button", name="恢复默认文字").click()
    page.wait_for_url("**done=restored**")
    expect(page.locator("#text")).to_have_value(default)
    assert in_use(console_server) == default
    with console_server.app.db.unit_of_work() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(
            AuditEntry.source == "console", AuditEntry.target == f"{NAME} {LOCALE}",
            AuditEntry.after["version"].as_integer() > v_first - 1).order_by(AuditEntry.id)))
    assert actions == ["template.save", "template.save", "template.rollback", "template.reset"]


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def people(server: Server, codes: list[str]) -> dict[str, tuple[str, str | None]]:
    with server.app.db.unit_of_work() as s:
        return {p.code: (p.name, p.email) for p in s.scalars(select(Person).where(Person.code.in_(codes)))}


def upload(view: ConsolePage, kind: str, name: str, data: bytes) -> None:
    page = view.page
    form = page.locator("#upload form")
    form.locator("select[name=kind]").select_option(kind)
    form.locator("input[type=file]").set_input_files(
        {"name": name, "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "buffer": data})
    form.get_by_role("button", name="检查文件").click()


@SIZES
def test_an_excel_file_with_one_bad_line_imports_nothing_then_fixed_it_imports(
        open_as: Callable[..., ConsolePage], console_server: Server, viewport: dict[str, int],
        tmp_path: Path) -> None:
    out = shots_dir(tmp_path)
    tag = "p" if viewport == PHONE else "d"
    new = [f"imp{tag}1", f"imp{tag}2"]
    header = ["code", "name", "role", "team", "email"]
    # two new reps for 广州一组 (one with an email), and 赵磊 gets an email; line 3 (the second person) has a role
    # nobody has
    bad = [header, [new[0], "新人甲", "rep", "gz1", f"{new[0]}@example.com"], [new[1], "新人乙", "boss", "gz1", ""],
           ["zhaolei", "赵磊", "rep", "gz1", f"zhaolei.{tag}@example.com"]]
    before = people(console_server, [*new, "zhaolei"])
    assert set(before) == {"zhaolei"}
    view = open_as("admin", "/console/import", viewport=viewport)
    page = view.page
    check_layout(view, viewport)
    upload(view, "users", "新人.xlsx", xlsx(bad))
    problems = page.locator("#problems")
    expect(problems).to_contain_text("新人.xlsx 有 1 个问题")
    expect(problems).to_contain_text("什么都没有写入")
    rows = problems.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.locator("td").nth(0)).to_have_text("3")
    expect(rows.locator("td").nth(1)).to_have_text("role")
    expect(rows.locator("td").nth(2)).to_have_text("「boss」不对：只能是 rep, manager, admin 之一")
    expect(page.get_by_role("button", name=re.compile("^导入"))).to_have_count(0)
    shoot(view, out, "import-errors", viewport)
    check_layout(view, viewport)
    assert people(console_server, [*new, "zhaolei"]) == before  # nothing written

    good = [row[:] for row in bad]
    good[2][2] = "rep"
    upload(view, "users", "新人.xlsx", xlsx(good))
    expect(page.locator("#problems")).to_have_count(0)
    preview = page.locator("#preview")
    expect(preview).to_contain_text("新人.xlsx 会做这些改动")
    cards = preview.locator(".card")
    expect(cards.filter(has_text="新增").locator(".value")).to_have_text("2")
    expect(cards.filter(has_text="修改").locator(".value")).to_have_text("1")
    changes = preview.locator("table.changes tbody tr")
    expect(changes).to_have_count(3)
    expect(changes.filter(has_text="zhaolei")).to_contain_text(f"zhaolei.{tag}@example.com")
    expect(changes.filter(has_text="zhaolei")).to_contain_text("修改")
    # a new row shows what it will hold, each column of the file that is not empty
    first = changes.filter(has_text=new[0])
    expect(first).to_contain_text("新增")
    expect(first.locator(".pair")).to_have_text(["name: 新人甲", "role: rep", "team: gz1",
                                                  f"email: {new[0]}@example.com"])
    expect(changes.filter(has_text=new[1]).locator(".pair")).to_have_text(["name: 新人乙", "role: rep", "team: gz1"])
    shoot(view, out, "import-preview", viewport)
    check_layout(view, viewport)
    assert people(console_server, [*new, "zhaolei"]) == before  # a preview writes nothing either

    preview.get_by_role("button", name=re.compile("^导入")).click()
    page.wait_for_url("**/console/import?**done=1**")
    expect(page.get_by_role("status")).to_contain_text("已导入 新人.xlsx：3 行，新增 2，修改 1")
    assert people(console_server, [*new, "zhaolei"]) == {
        new[0]: ("新人甲", f"{new[0]}@example.com"), new[1]: ("新人乙", None), "zhaolei": ("赵磊", f"zhaolei.{tag}@example.com")}
    with console_server.app.db.unit_of_work() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "import")
                          .order_by(AuditEntry.id.desc())).first()
        assert entry is not None
        assert (entry.actor, entry.source, entry.target) == ("admin", "console", "users (新人.xlsx)")

    # and the audit log page shows it, with who and when
    view.goto("/console/audit?what=import")
    log = page.locator("table[data-table=main] tbody tr").first
    expect(log).to_contain_text("系统管理员 (admin)")
    expect(log).to_contain_text("users (新人.xlsx)")
    expect(log).to_contain_text(entry.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"))
    check_layout(view, viewport)


@SIZES
def test_the_other_admin_pages_fit_the_screen(open_as: Callable[..., ConsolePage], console_server: Server,
                                              viewport: dict[str, int], tmp_path: Path) -> None:
    """Report fields, goals and their split table, the audit log and one entry, the English editor: no sideways
    scroll, tap targets of 24 px, no console error; with the goal form and the field form opened."""
    out = shots_dir(tmp_path)
    open_as("admin").page.close()  # signed in: the sign-in is in the audit log
    with console_server.app.db.unit_of_work() as s:
        goal = s.scalars(select(Goal).where(Goal.scope == "team", Goal.period == "2026-11")
                         .order_by(Goal.code)).first()
        entry = s.scalar(select(func.max(AuditEntry.id)))
    assert goal is not None and entry is not None
    split = (f"/console/goals/split?scope=team&code={goal.code}&period={goal.period}&metric={goal.metric}"
             "&by=history")
    for path, opens in (("/console/fields", "details.add-field > summary"),
                        ("/console/goals?period=2026-11", "details.set-goal > summary"),
                        (split, None), ("/console/audit", None), (f"/console/audit/entry?id={entry}", None),
                        (f"/console/templates/{NAME}?locale=en", None)):
        view = open_as("admin", path, viewport=viewport)
        if opens:
            view.page.locator(opens).click()
        check_layout(view, viewport)
        name = re.sub(r"\W+", "-", path.split("?")[0].strip("/"))
        shoot(view, out, name, viewport)
        view.page.close()
