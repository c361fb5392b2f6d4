import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { FormController } from "@web/views/form/form_controller";
import { formView } from "@web/views/form/form_view";

/**
 * Outgoing mail server form: "Test Connection" on unsaved changes tests them first and saves
 * them only when the test succeeds (stock saves first, so a wrong port stayed saved).
 */
export class MdMailServerFormController extends FormController {
    setup() {
        super.setup();
        this.mdAction = useService("action");
    }

    async beforeExecuteActionButton(clickParams) {
        const record = this.model.root;
        if (
            clickParams.type === "object" &&
            clickParams.name === "test_smtp_connection" &&
            !record.isNew &&
            (await record.isDirty())
        ) {
            if (!(await record.checkValidity({ displayNotification: true }))) {
                return false;
            }
            const changes = record._getChanges();
            const action = await this.orm.call("ir.mail_server", "md_test_smtp_connection_with", [
                [record.resId],
                changes,
            ]);
            // the test passed: the changes were saved with it
            await record.load();
            if (action) {
                await this.mdAction.doAction(action);
            }
            return false;
        }
        return super.beforeExecuteActionButton(clickParams);
    }
}

registry.category("views").add("md_mail_server_form", {
    ...formView,
    Controller: MdMailServerFormController,
});
