// The ops pages' language and formats: the shared `i18n.js` with the dashboard's phrases
// (`strings.js`), remembered under its own key, plus how an alarm's value reads.

import { DEFAULT_TZ, createI18n } from "./i18n.js";
import { STRINGS } from "./strings.js";

export { DEFAULT_TZ };
export const {
  lang, locale, t, word, known, applyStatic, switchLang, when, hhmm, hourLabel, weekday, dayLabel,
  duration, ago, since, num,
} = createI18n(STRINGS, { storageKey: "ws-ops-lang" });

// An alarm's value in words by what it measures (`metric` from the API), or "" when the
// number means nothing on its own (a 0/1 flag, or a station's own alarm).
export function alarmValue(alarm) {
  const v = alarm.value;
  if (v === null || v === undefined) return "";
  switch (alarm.metric) {
    case "offline_s": {
      // `value` is the offline time when the alarm was raised (at `since`): add what passed
      // since, up to now or until it cleared.
      const end = alarm.cleared_at ? new Date(alarm.cleared_at).getTime() : Date.now();
      const from = new Date(alarm.since || alarm.raised_at).getTime();
      return t("value_offline", duration(v + Math.max(0, (end - from) / 1000)));
    }
    case "blind_s":
      return t("value_blind", duration(v));
    case "fridge_c":
      return t("value_fridge", num(v));
    case "disk_used_pct":
      return t("value_disk", num(v));
    case "trust_age_h":
    case "revocation_age_h":
      return t("value_age", duration(v * 3600));
    default:
      return "";
  }
}
