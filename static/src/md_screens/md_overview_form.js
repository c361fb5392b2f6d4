import { registry } from "@web/core/registry";
import { usePager } from "@web/search/pager_hook";
import { FormController } from "@web/views/form/form_controller";
import { formView } from "@web/views/form/form_view";

/**
 * The Email Overview is a dashboard shown through a form: no "1 / 1" pager.
 */
export class MdOverviewFormController extends FormController {
    setup() {
        super.setup();
        usePager(() => ({ total: 0 }));
    }
}

registry.category("views").add("md_overview_form", {
    ...formView,
    Controller: MdOverviewFormController,
});
