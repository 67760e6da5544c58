import { Fn } from "cdktf";

const TOKEN = /(\$\{TfToken\[[^\]]+\]\})/;

/**
 * A string that mixes literal text with Terraform references, as one Terraform expression that a
 * function (base64encode) may take. cdktf refuses literals with double quotes as function arguments
 * (they would end the HCL string), so the literal parts are passed raw and joined with the references.
 */
export function terraformString(text: string): string {
  const parts = text.split(TOKEN).filter((part) => part !== "");
  return Fn.join(
    "",
    parts.map((part) => (TOKEN.test(part) ? part : Fn.rawString(part))),
  );
}
