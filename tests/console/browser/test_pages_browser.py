"""The console in a real browser: region isolation, a drill-down from a figure to its rows, an export."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.console.browser.conftest import DESKTOP, PHONE, ConsolePage


@pytest.mark.parametrize(("who", "path"), [
    ("other_manager", "/console/overview?region=huadong"),  # 华南's manager edits the URL to 华东
    ("other_manager", "/console/overview?team=sh1"),
    ("other_manager", "/console/people/zhangwei"),
    ("other_manager", "/console/reports?team=sh1"),
    ("other_manager", "/console/funnel?region=shanghai"),
    ("rep", "/console/overview"),  # a rep sees only their own page
    ("rep", "/console/people/lina"),
])
def test_a_url_outside_ones_regions_answers_404(open_as: Callable[..., ConsolePage], who: str, path: str) -> None:
    view = open_as(who)
    view.allow_errors()  # Chromium logs the 404 as a failed resource
    response = view.goto(path)
    assert response is not None and response.status == 404
    expect(view.page.get_by_role("alert")).to_contain_text("你没有权限查看它")
    for word in ("华东", "上海一组", "张伟", "李娜"):  # nothing of the region leaks into the page
        expect(view.page.locator("main")).not_to_contain_text(word)


def test_drill_down_from_the_overview_to_a_team_and_a_persons_rows(open_as: Callable[..., ConsolePage]) -> None:
    for viewport in (PHONE, DESKTOP):
        view = open_as("manager", "/console/overview?period=2026-11", viewport=viewport)
        page = view.page
        tree = page.locator("table[data-table=main]")
        expect(tree).to_contain_text("华东")
        expect(tree).to_contain_text("North Team")
        expect(tree).not_to_contain_text("广州一组")  # 华南 is not chenjl's
        # tap the team's actual figure: the team's tree with its sellers
        row = tree.locator("tr", has=page.get_by_role("link", name="上海一组", exact=True))
        figure = row.locator("td").nth(1).get_by_role("link")
        amount = figure.inner_text()
        figure.click()
        page.wait_for_url("**/console/overview?*team=sh1*")
        expect(page.get_by_role("heading", level=1)).to_contain_text("上海一组")
        expect(page.locator(".cards .card .value").first).to_have_text(amount)
        tree = page.locator("table[data-table=main]")
        for name in ("张伟", "李娜", "王强", "刘洋", "陈静"):
            expect(tree).to_contain_text(name)
        # then a person: their reports day by day
        tree.get_by_role("link", name="张伟", exact=True).click()
        page.wait_for_url("**/console/people/zhangwei?period=2026-11")
        reports = page.locator("table[data-table=reports]")
        expect(reports.locator("tbody tr").first).to_be_visible()
        expect(reports).to_contain_text("2026-11-23")


def test_the_reported_figure_drills_into_who_reported(open_as: Callable[..., ConsolePage]) -> None:
    view = open_as("manager", "/console/overview?team=sh1")
    page = view.page
    card = page.locator(".card", has_text="已交日报")
    reported, sellers = (int(n) for n in card.locator(".value").inner_text().split("/"))
    card.get_by_role("link").click()
    page.wait_for_url("**/console/reports?*team=sh1*")
    rows = page.locator("table[data-table=main] tbody tr")
    expect(rows).to_have_count(sellers)
    expect(rows.filter(has_text="未交")).to_have_count(sellers - reported)


def test_exports_download_the_table_with_its_filters(open_as: Callable[..., ConsolePage]) -> None:
    view = open_as("manager", "/console/overview?period=2026-11&team=sh1", viewport=DESKTOP)
    page = view.page
    shown = page.locator("table[data-table=main] tbody tr")
    expect(shown.first).to_be_visible()
    with page.expect_download() as info:
        page.locator("#t-main ~ .tablebar").first.get_by_role("link", name="导出 CSV").click()
    download = info.value
    assert download.suggested_filename == "main_period-2026-11_metric-signed_amount_team-sh1.csv"
    with open(download.path(), "rb") as f:
        data = f.read()
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for Chinese
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == page.locator("table[data-table=main] th").first.inner_text()
    assert len(rows) - 1 == shown.count()
    assert {r[0] for r in rows[1:]} >= {"上海一组", "张伟", "李娜"}
    # 达成率 exports as its number (the bar beside it is for the screen), the same as on the page
    pct = rows[0].index(page.locator("table[data-table=main] th").nth(2).inner_text())
    team_pct = page.locator("table[data-table=main] tbody tr").first.locator("td").nth(2).inner_text()
    assert rows[1][pct] and team_pct.startswith(f"{round(float(rows[1][pct]))}%"), (rows[1][pct], team_pct)
    with page.expect_download() as info:
        page.locator("#t-main ~ .tablebar").first.get_by_role("link", name="导出 Excel").click()
    assert info.value.suggested_filename.endswith(".xlsx")
    with open(info.value.path(), "rb") as f:
        book = load_workbook(io.BytesIO(f.read()), read_only=True)
    first, filters = book.worksheets
    assert [r[0] for r in first.iter_rows(min_row=2, values_only=True)] == [r[0] for r in rows[1:]]
    assert [r[pct] for r in first.iter_rows(min_row=2, max_row=2, values_only=True)] == [float(rows[1][pct])]
    assert ("team", "sh1") in list(filters.iter_rows(values_only=True))
