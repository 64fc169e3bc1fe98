import type { DmStateDoc } from "../dm/docs.js";
import { type TargetLine, targetProblem } from "../dm/target.js";
import { invalidInput } from "../lib/errors.js";

/**
 * What the dm-state schema cannot say: names and uuids unique, and every
 * target line typed (it prints and parses back to itself, which checks each
 * typed field). Errors name the field, as every tool's input errors do.
 */

function checkTable(table: readonly TargetLine[], at: string): void {
  table.forEach((t, j) => {
    const why = targetProblem(t);
    if (why) throw invalidInput(`${at}/${j}: ${why}`);
  });
}

export function checkDmState(doc: DmStateDoc, label: string): void {
  const names = new Set<string>();
  const uuids = new Set<string>();
  doc.devices.forEach((d, i) => {
    const at = `${label}: dm-state document field /devices/${i}`;
    if (names.has(d.name)) throw invalidInput(`${at}/name: "${d.name}" appears twice`);
    names.add(d.name);
    if (d.name.includes("/")) throw invalidInput(`${at}/name: "${d.name}" contains "/"`);
    if (d.uuid !== undefined && d.uuid !== "") {
      if (uuids.has(d.uuid)) throw invalidInput(`${at}/uuid: "${d.uuid}" appears twice`);
      uuids.add(d.uuid);
    }
    if (d.table) checkTable(d.table, `${at}/table`);
    if (d.inactive_table) checkTable(d.inactive_table, `${at}/inactive_table`);
  });
}
