import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { IntegerField, integerField } from "@web/views/fields/integer/integer_field";

/**
 * An integer where 0 means "no limit" (e.g. the daily limit of an outgoing mail server):
 * shown as "No limit" when read, with a hint next to the input when edited.
 */
export class MdLimitField extends IntegerField {
    static template = "mail_deliverability.MdLimitField";

    get isUnlimited() {
        return !this.props.record.data[this.props.name];
    }

    get noLimitText() {
        return _t("No limit");
    }
}

export const mdLimitField = {
    ...integerField,
    component: MdLimitField,
    displayName: _t("Integer, 0 = no limit"),
};

registry.category("fields").add("md_limit", mdLimitField);
