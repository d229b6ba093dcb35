// The scenario-file readers (simulations, PATE-MNIST, audit attacks): shared/util/config-fields.ts bound to E_SCENARIO_INVALID.
import { SCENARIO_FIELDS } from './config-fields.ts';

export type { NumberRule, Obj } from './config-fields.ts';

export const { root, mapping, onlyKeys, section, numberAt, stringAt, booleanAt, listAt, checkField } = SCENARIO_FIELDS;
