"""The scenarios: for each template, what people do on the demo organisation to receive it.

Each runs on a fresh copy of the demo, on Monday 2026-12-07 at 10:00 team-local time, once per
locale (the zh-CN cast is 上海一组, the en cast North Team) and platform. Steps with
`shown=False` set the scene and are not in the transcript.
"""

from __future__ import annotations

from tests.transcripts.harness import Cast, Run, scenario

# -- help, and what the bot says when it cannot help ----------------------------------------


@scenario("help", title="A rep asks for help")
def help_rep(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("/帮助", "/help"))


@scenario("help", title="An admin asks for help (sees the admin commands)")
def help_admin(r: Run, c: Cast) -> None:
    r.say(c.admin, r.t("/帮助", "/help"))


@scenario("console_link", title="Asking for console sign-in links too often (each link is random, so the "
                           "transcript shows the limit; tests/console checks the link itself)")
def console_link_limited(r: Run, c: Cast) -> None:
    for _ in range(5):
        r.say(c.manager, r.t("/看板", "/console"), shown=False)
    r.say(c.manager, r.t("/看板", "/console"))


@scenario("not_in_org", title="Someone who is not in the organisation writes")
def not_in_org(r: Run, c: Cast) -> None:
    r.say("stranger", r.t("/帮助", "/help"))


@scenario("forbidden", title="A rep tries an admin command")
def forbidden(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("/模板 list", "/template list"))


@scenario("too_long", title="A message longer than the bot reads")
def too_long(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("很长的消息。" * 1400, "A long message. " * 600))


@scenario("unknown_command", title="A command the bot does not know")
def unknown_command(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("/天气 上海", "/weather boston"))


@scenario("unknown_message", title="A message that is neither a report nor a command")
def unknown_message(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("你好，在吗？", "hi, are you there?"))


@scenario("error", title="A handler fails (a bug): the person gets an apology, never a stack trace")
def error(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("/崩溃", "/crash"))


# -- daily reports and key actions -----------------------------------------------------------

def _report(r: Run, *, signed: str = "", plan: str = "") -> str:
    return r.t(
        f"日报\n拜访：3\n新线索：1\n新客户：0\n商机：1\n签约：{signed or '12.5万'}\n回款：0\n"
        f"明日计划：{plan or '拜访浦江医疗，确认方案细节'}\n问题：",
        f"daily report\nvisits: 3\nnew leads: 1\nnew customers: 0\nopportunities: 1\nsigned: {signed or '125k'}\n"
        f"collected: 0\nplan: {plan or 'Visit Harbor Health to go through the proposal'}\nblockers:",
    )


def _key_actions(r: Run) -> str:
    return r.t("今日三件事\n1. 拜访星河科技，确认续约\n2. 给浦江医疗发方案\n3. 跟进东方明珠传媒的回款",
               "today\n1. Visit Maple Leaf Foods about the renewal\n2. Send the proposal to Harbor Health\n"
               "3. Chase the payment from Lakeside Logistics")


@scenario("report_form", title="A rep asks for the report form (Slack: a modal; elsewhere the blank report)")
def report_form(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("/日报", "/report"))


@scenario("key_actions_reply", title="A rep sends today's three key actions")
def key_actions(r: Run, c: Cast) -> None:
    r.say(c.rep, _key_actions(r))


@scenario("key_actions_reply", title="A rep sends the key-actions word and nothing else")
def key_actions_empty(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("今日三件事", "today"))


@scenario("report_reply", title="A rep reports the day, after giving the key actions in the morning")
def report_reply(r: Run, c: Cast) -> None:
    r.say(c.rep, _key_actions(r), shown=False)
    r.at("18:05")
    r.say(c.rep, _report(r))


@scenario("report_reply", title="A rep sends the day's report again (it replaces the first)")
def report_replaced(r: Run, c: Cast) -> None:
    r.at("18:05")
    r.say(c.rep, _report(r), shown=False)
    r.say(c.rep, _report(r, signed=r.t("15万", "150k")))


@scenario("report_error", title="A report with mistakes on several lines")
def report_error(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("日报\n拜访：三\n签约：很多\n心情：不错\n明日计划 拜访客户",
                     "daily report\nvisits: three\nsigned: lots\nmood: good\nplan visit customers"))


# -- scheduled messages ----------------------------------------------------------------------

@scenario("morning_prompt", title="The morning prompt of a rep with two goals and follow-ups due")
def morning(r: Run, c: Cast) -> None:
    r.job("morning", "08:45", show=r.to(c.rep))


@scenario("report_reminder", title="The afternoon reminder to a rep who has not reported")
def reminder(r: Run, c: Cast) -> None:
    r.job("reminder", "17:30", show=r.to(c.rep))


@scenario("evening_leaderboard", title="The evening leaderboard, two reps reported")
def evening(r: Run, c: Cast) -> None:
    r.at("18:05")
    r.say(c.rep, _report(r), shown=False)
    r.say(c.rep2, _report(r, signed=r.t("3.6万", "36k")), shown=False)
    r.job("evening", "18:30", show=r.to_team)


def _overdue(r: Run, c: Cast) -> None:
    """The rep missed four promised follow-ups, one of them a week ago; a teammate missed one."""
    for customer, day in zip((c.own, *c.others), ("2026-11-27", "2026-12-02", "2026-12-03", "2026-12-04"),
                             strict=False):
        r.promise(customer, day, owner=c.rep)
    r.promise(c.others[-1], "2026-12-01", owner=c.rep2)


@scenario("nudge", title="The follow-up nudge of a rep with four overdue follow-ups")
def nudge(r: Run, c: Cast) -> None:
    _overdue(r, c)
    r.job("nudges", "10:00", show=lambda e: e.key.startswith(f"job:nudges:{c.team}:") and
          e.key.split(":")[4] == c.rep)


@scenario("escalation", title="Follow-ups overdue long enough are escalated to the region's managers")
def escalation(r: Run, c: Cast) -> None:
    _overdue(r, c)
    r.job("nudges", "10:00", show=lambda e: ":escalation:" in e.key)


@scenario("stalled_risk", title="Stalled opportunities are reported to the region's managers")
def stalled(r: Run, c: Cast) -> None:
    r.job("nudges", "10:00", show=lambda e: ":stalled:" in e.key)


@scenario("weekly_review", title="The weekly review on Monday morning: the team's channel and its managers")
def weekly(r: Run, c: Cast) -> None:
    r.job("weekly", "08:45")


# -- visits and collaboration ----------------------------------------------------------------

@scenario("visit_reply", title="A visit that signs the customer, with a next date")
def visit_signed(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t(f"/拜访 {c.own} 阶段=签约 下次=12-10 合同已盖章", f'/visit "{c.own}" stage=signed next=12-10 '
                                                                   "Contract signed"))


@scenario("visit_reply", title="A visit to a new customer (becomes the rep's lead)")
def visit_new(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("/拜访 陆家嘴金融 下次=+3d 初次拜访，对方对方案感兴趣",
                     '/visit "Evergreen Dental" next=+3d First meeting, interested in the proposal'))


@scenario("visit_reply", title="A visit to another region's customer under an approved collaboration")
def visit_granted(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t(f"/协作 {c.foreign} 客户在我们这边有分公司", f'/collab "{c.foreign}" Their office here asked us'),
          shown=False)
    r.press(c.decider, "collab_approve", shown=False)
    r.say(c.rep, r.t(f"/拜访 {c.foreign} 阶段=方案设计 演示了方案", f'/visit "{c.foreign}" stage=proposal Demoed'))


@scenario("visit_error", title="A visit with a date the bot cannot read")
def visit_error(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t(f"/拜访 {c.own} 下次=明年", f'/visit "{c.own}" next=someday'))


@scenario("collab_needed", title="A visit to another region's customer without permission (撞单)")
def collab_needed(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t(f"/拜访 {c.foreign} 顺路拜访", f'/visit "{c.foreign}" Dropped by'))


@scenario("collab_request", "collab_button", "collab_sent",
          title="A rep asks for permission; the region's manager gets the request with buttons")
def collab_request(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t(f"/协作 {c.foreign} 客户在我们这边有分公司，约我们下周演示",
                     f'/collab "{c.foreign}" Their office here asked us for a demo next week'))


@scenario("collab_sent", title="A rep asks for permission for their own customer")
def collab_own(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t(f"/协作 {c.own} 想确认一下", f'/collab "{c.own}" just checking'))


@scenario("collab_decision", title="The manager approves: the request is updated, the rep is told")
def collab_approve(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t(f"/协作 {c.foreign} 客户在我们这边有分公司", f'/collab "{c.foreign}" Their office here asked us'),
          shown=False)
    r.press(c.decider, "collab_approve")


@scenario("collab_decision", title="The manager rejects, then presses again (too late)")
def collab_reject(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t(f"/协作 {c.foreign} 客户在我们这边有分公司", f'/collab "{c.foreign}" Their office here asked us'),
          shown=False)
    r.press(c.decider, "collab_reject")
    r.press(c.decider, "collab_approve")


@scenario("customer_card", title="A rep looks up their own customer")
def customer_own(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t(f"/客户 {c.own}", f'/customer "{c.own}"'))


@scenario("customer_card", title="A rep looks up a customer group of another region")
def customer_group(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t(f"/客户 {c.group}", f'/customer "{c.group}"'))


@scenario("customer_unknown", title="A customer name with a typo")
def customer_unknown(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("/客户 星合科技", "/customer Maple Leaf Food"))


@scenario("customer_unknown", title="Asking permission for a customer that does not exist")
def collab_unknown(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("/协作 不存在的公司 想联系", "/collab Nowhere Inc please"))


@scenario("customer_usage", title="/customer and /collab without a name")
def customer_usage(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("/客户", "/customer"))
    r.say(c.rep, r.t("/协作", "/collab"))


# -- follow-ups ------------------------------------------------------------------------------

@scenario("followups", "followup_button", title="A rep lists the follow-ups due")
def followups(r: Run, c: Cast) -> None:
    _overdue(r, c)
    r.say(c.rep, r.t("/跟进", "/followups"))


@scenario("followup_done", title="A rep marks a follow-up done, then presses the same button again")
def followup_done(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("/跟进", "/followups"), shown=False)
    r.press(c.rep, "nudge_done")
    r.press(c.rep, "nudge_done")


@scenario("followup_done", title="A rep snoozes a follow-up")
def followup_snooze(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("/跟进", "/followups"), shown=False)
    r.press(c.rep, "nudge_snooze")


# -- goals and leaderboards ------------------------------------------------------------------

@scenario("goal_show", title="A rep looks at their goals")
def goal_rep(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("/目标", "/goal"))


@scenario("goal_show", title="A manager looks at the goals (theirs, the team's, the regions')")
def goal_manager(r: Run, c: Cast) -> None:
    r.say(c.manager, r.t("/目标", "/goal"))


@scenario("goal_set", title="A manager sets a rep's month goal with a floor and a stretch")
def goal_set(r: Run, c: Cast) -> None:
    r.say(c.manager, r.t(f"/目标 设定 个人 {c.rep} 2026-12 签约 50万 保底=40万 冲刺=65万",
                         f"/goal set user {c.rep} 2026-12 signed 500k floor=400k stretch=650k"))


@scenario("goal_split", title="A manager splits the team's month goal evenly")
def goal_split_even(r: Run, c: Cast) -> None:
    r.say(c.manager, r.t(f"/目标 分解 团队 {c.team} 2026-12 签约 按=平均", f"/goal split team {c.team} 2026-12 signed by=even"))


@scenario("goal_split", title="A manager splits the region's year goal by last year's results")
def goal_split_history(r: Run, c: Cast) -> None:
    region = r.t("huadong", "north")
    r.say(c.manager, r.t(f"/目标 分解 区域 {region} 2026 签约", f"/goal split region {region} 2026 signed"))


@scenario("goal_applied", title="The manager applies the split")
def goal_applied(r: Run, c: Cast) -> None:
    r.say(c.manager, r.t(f"/目标 分解 团队 {c.team} 2026-12 签约 按=平均", f"/goal split team {c.team} 2026-12 signed by=even"),
          shown=False)
    r.press(c.manager, "goal_apply")


@scenario("goal_error", title="Goal commands with mistakes")
def goal_error(r: Run, c: Cast) -> None:
    r.say(c.manager, r.t(f"/目标 设定 个人 {c.rep} 2026-13 签约 50万", f"/goal set user {c.rep} 2026-13 signed 500k"))
    r.say(c.manager, r.t("/目标 分解", "/goal split"))


@scenario("leaderboard", title="A rep looks at the month's ranking")
def leaderboard(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("/排行 本月", "/leaderboard month"))


@scenario("leaderboard", title="A rep looks at today's visits ranking after reporting")
def leaderboard_today(r: Run, c: Cast) -> None:
    r.at("18:05")
    r.say(c.rep, _report(r), shown=False)
    r.say(c.rep, r.t("/排行 今天 拜访", "/leaderboard today visits"))


@scenario("leaderboard_error", title="A ranking by a metric that does not exist")
def leaderboard_error(r: Run, c: Cast) -> None:
    r.say(c.rep, r.t("/排行 本月 心情", "/leaderboard month mood"))


# -- templates and fields (admins) -----------------------------------------------------------

_NUDGE_ZH = "⏰ {{ name }}，请跟进：\n{% for f in items %}\n- {{ f.customer }}\n{% endfor %}"
_NUDGE_EN = "⏰ {{ name }}, please follow up:\n{% for f in items %}\n- {{ f.customer }}\n{% endfor %}"


def _save_nudge(r: Run, c: Cast, *, shown: bool = True) -> None:
    r.say(c.admin, r.t(f"/模板 save nudge zh-CN\n{_NUDGE_ZH}", f"/template save nudge en\n{_NUDGE_EN}"), shown=shown)


@scenario("template_list", title="An admin lists the templates (one changed)")
def template_list(r: Run, c: Cast) -> None:
    _save_nudge(r, c, shown=False)
    r.say(c.admin, r.t("/模板 list", "/template list"))


@scenario("template_show", title="An admin shows a template")
def template_show(r: Run, c: Cast) -> None:
    r.say(c.admin, r.t("/模板 show nudge", "/template show nudge"))


@scenario("template_edit", title="An admin edits a template (Slack: a modal; elsewhere how to send the new text)")
def template_edit(r: Run, c: Cast) -> None:
    r.say(c.admin, r.t("/模板 edit nudge", "/template edit nudge"))


@scenario("template_preview", title="An admin previews a template with sample data")
def template_preview(r: Run, c: Cast) -> None:
    r.say(c.admin, r.t("/模板 preview morning_prompt", "/template preview morning_prompt"))


@scenario("template_saved", title="An admin saves a new text")
def template_saved(r: Run, c: Cast) -> None:
    _save_nudge(r, c)


@scenario("template_refused", title="An admin saves a text with an unknown variable")
def template_refused(r: Run, c: Cast) -> None:
    r.say(c.admin, r.t("/模板 save nudge zh-CN\n{{ nmae }}，请跟进", "/template save nudge en\n{{ nmae }}, follow up"))


@scenario("template_history", title="An admin looks at a template's versions")
def template_history(r: Run, c: Cast) -> None:
    _save_nudge(r, c, shown=False)
    r.say(c.admin, r.t("/模板 history nudge", "/template history nudge"))


@scenario("template_rolled_back", title="An admin goes back to the default text")
def template_rolled_back(r: Run, c: Cast) -> None:
    _save_nudge(r, c, shown=False)
    r.say(c.admin, r.t("/模板 rollback nudge 0", "/template rollback nudge 0"))


@scenario("template_usage", title="Template commands with mistakes")
def template_usage(r: Run, c: Cast) -> None:
    r.say(c.admin, r.t("/模板 show nudg", "/template show nudg"))
    r.say(c.admin, r.t("/模板 rollback nudge", "/template rollback nudge"))


@scenario("field_list", title="An admin lists the report fields")
def field_list(r: Run, c: Cast) -> None:
    r.say(c.admin, r.t("/字段", "/field"))


@scenario("field_changed", title="An admin adds a field and an alias")
def field_changed(r: Run, c: Cast) -> None:
    r.say(c.admin, r.t("/字段 add calls count zh:电话 en:calls", "/field add calls count zh:电话 en:calls"))
    r.say(c.admin, r.t("/字段 alias visits 见客户", "/field alias visits meetings"))


@scenario("field_refused", title="An admin adds a field whose label is taken")
def field_refused(r: Run, c: Cast) -> None:
    r.say(c.admin, r.t("/字段 add meetings count zh:拜访", "/field add meetings count en:visits"))
