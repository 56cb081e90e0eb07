// The phrases of the admin pages (members.js, bulkconfig.js, notify.js), zh-CN first and
// English; strings.js lays them over its own tables, so `t()` and `word()` find them there.

const zh = {
  nav_members: "会员", members_title: "会员管理",
  mem_search_ph: "会员编号的一部分", mem_pseudonym: "会员编号（化名）", mem_branch: "分会",
  mem_status: "状态", mem_valid_until: "会籍有效期至", mem_actions: "操作", mem_caption: "会员，按编号排序",
  mem_count: (n, total) => `显示 ${n} 个，共 ${total} 个会员`, mem_active: "正常", mem_suspended: "已暂停",
  mem_no_end: "长期", mem_enrol: "发放登记码", mem_certs: "证书", mem_revoke: "吊销会员",
  mem_failed: (m) => `操作失败：${m}`,
  mem_reach: (n, m, v, behind, unknown) =>
    `${n} / ${m} 个站点运行最新吊销列表（第 ${v} 版）` +
    (behind || unknown ? `；${behind} 个仍是旧版，${unknown} 个未报告` : ""),
  mem_reach_none: "尚无吊销列表（签发机构未设置）",
  mem_enrol_title: "会员登记：", mem_qr_alt: (id) => `会员 ${id} 的登记二维码`, mem_code: "登记码：",
  mem_code_expires: (w) => `有效期至 ${w}，只能用一次`,
  mem_code_hint: "请会员用手机扫描二维码，或打开下面的链接并输入登记码。此码只显示这一次；再发一个会使旧码失效。",
  mem_code_issued: (id) => `已为 ${id} 发放新的登记码`,
  mem_certs_of: "证书：", mem_serial: "序列号", mem_kind: "类型", mem_valid: "有效期",
  mem_cert_status: "状态", mem_kind_pass: "纸质通行证", mem_kind_device: "手机",
  mem_cert_valid: "有效", mem_cert_revoked: "已吊销", mem_cert_expired: "已过期",
  mem_no_certs: "该会员还没有证书。", mem_revoke_cert: "吊销",
  mem_revoke_cert_confirm: (s) => `吊销证书 ${s}？持有它的手机将无法再开门。`,
  mem_revoke_confirm: (id) => `吊销会员 ${id} 的全部证书？其所有手机和通行证将无法再开门。`,
  mem_revoked: (n, v, published) =>
    `已吊销 ${n} 张证书；吊销列表第 ${v} 版${published ? "已下发" : "已保存，稍后下发"}`,
  nav_bulk: "批量配置", bulk_title: "批量修改站点配置",
  bulk_hint: "按城市、运营方或站点编号选出站点，填写要统一修改的项；留空的项保持各站点原值，勾选“清除”则恢复站点默认值。先预览，再确认下发。",
  bulk_which: "哪些站点（同时满足所填条件）", bulk_ids: "站点编号", bulk_ids_ph: "用逗号或换行分隔，可留空",
  bulk_what: "修改什么", bulk_keep: "不变", bulk_clear: "清除", bulk_preview: "预览", bulk_apply: "确认下发",
  bulk_matched: (n) => `将修改 ${n} 个站点`, bulk_applied: (n, p) => `已修改 ${n} 个站点，${p} 个配置已下发`,
  bulk_more: (n) => `还有 ${n} 个站点未列出`, bulk_confirm: (n) => `确认修改 ${n} 个站点的配置并下发？`,
  bulk_failed: (m) => `未完成：${m}`, bulk_no_fields: "请至少填写或清除一项", bulk_no_stations: "请选择城市、运营方或填写站点编号",
};

const en = {
  nav_members: "Members", members_title: "Member administration",
  mem_search_ph: "part of a member id", mem_pseudonym: "Member id (pseudonym)", mem_branch: "Branch",
  mem_status: "Status", mem_valid_until: "Membership until", mem_actions: "Actions", mem_caption: "Members by id",
  mem_count: (n, total) => `${n} shown of ${total} members`, mem_active: "active", mem_suspended: "suspended",
  mem_no_end: "no end", mem_enrol: "Issue enrolment code", mem_certs: "Certificates", mem_revoke: "Revoke member",
  mem_failed: (m) => `Failed: ${m}`,
  mem_reach: (n, m, v, behind, unknown) =>
    `${n} / ${m} stations run revocation list v${v}` +
    (behind || unknown ? `; ${behind} on an older one, ${unknown} never reported` : ""),
  mem_reach_none: "No revocation list yet (no issuer set up)",
  mem_enrol_title: "Enrolment of", mem_qr_alt: (id) => `Enrolment QR code of member ${id}`, mem_code: "Code:",
  mem_code_expires: (w) => `valid until ${w}, once`,
  mem_code_hint: "Let the member scan the QR code with the phone, or open the link below and type the code. It is shown only now; a new one replaces it.",
  mem_code_issued: (id) => `New enrolment code issued for ${id}`,
  mem_certs_of: "Certificates of", mem_serial: "Serial", mem_kind: "Kind", mem_valid: "Valid",
  mem_cert_status: "Status", mem_kind_pass: "printed pass", mem_kind_device: "phone",
  mem_cert_valid: "valid", mem_cert_revoked: "revoked", mem_cert_expired: "expired",
  mem_no_certs: "This member has no certificates yet.", mem_revoke_cert: "Revoke",
  mem_revoke_cert_confirm: (s) => `Revoke certificate ${s}? The phone holding it will no longer open doors.`,
  mem_revoke_confirm: (id) => `Revoke every certificate of member ${id}? None of their phones or passes will open doors.`,
  mem_revoked: (n, v, published) =>
    `${n} certificate(s) revoked; revocation list v${v} ${published ? "sent" : "stored, sent later"}`,
  nav_bulk: "Bulk config", bulk_title: "One config change for many stations",
  bulk_hint: "Pick stations by city, operator or ids and fill in what to change; a blank field keeps each station's own value, \"clear\" brings back the station's default. Preview first, then confirm.",
  bulk_which: "Which stations (all filters given must match)", bulk_ids: "Station ids", bulk_ids_ph: "comma or line separated, optional",
  bulk_what: "What to change", bulk_keep: "unchanged", bulk_clear: "clear", bulk_preview: "Preview", bulk_apply: "Apply",
  bulk_matched: (n) => `${n} stations would change`, bulk_applied: (n, p) => `${n} stations changed, ${p} configs sent`,
  bulk_more: (n) => `${n} more not listed`, bulk_confirm: (n) => `Change the config of ${n} stations and send it?`,
  bulk_failed: (m) => `Not done: ${m}`, bulk_no_fields: "Fill in or clear at least one field", bulk_no_stations: "Choose a city or operator, or give station ids",
};

export const ADMIN_STRINGS = { "zh-CN": zh, en };
