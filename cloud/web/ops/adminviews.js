// The admin-only views beside #accounts: member administration (#members), one change to
// many stations' configs (#bulkconfig) and alarm notifications (#notify). Their nav links
// show for admins only (the APIs answer 403 to anyone else); each view is built and loaded
// the first time it is shown.

import { $ } from "./dom.js";
import { BulkConfig } from "./bulkconfig.js";
import { Members } from "./members.js";
import { Notify } from "./notify.js";

const PAGES = { members: Members, bulkconfig: BulkConfig, notify: Notify };

export const adminViews = {
  names: Object.keys(PAGES),
  built: new Map(),
  isAdmin: false,
  context: {},

  // `context` is what a page may need of the dashboard (the fleet map's cities and operators).
  start(isAdmin, context = {}) {
    this.isAdmin = isAdmin;
    this.context = context;
    for (const name of this.names) $(`#nav-${name}`).hidden = !isAdmin;
  },

  async show(name) {
    if (!this.isAdmin || !this.names.includes(name) || this.built.has(name)) return;
    const page = new PAGES[name]($(`#view-${name}`), this.context);
    this.built.set(name, page);
    await page.load();
  },
};
