// A Vitrine block in JavaScript: the z-score anomaly flag of ../zscore, value for value.
//
// For a number column it adds the z-score of each value (how many standard deviations it
// lies from the column's mean) and a flag for values whose absolute z-score exceeds a
// threshold. Build it with
//
//     componentize-js zscore.js --wit wit --world-name plugin -o zscore.wasm
//
// How WIT types look here: records are objects with camelCase fields, variants are
// `{tag, val}`, `u64` and `s64` are BigInts, and a thrown `{tag, val}` is the `err` of a
// function returning `result`.

import { log } from 'vitrine:block/host@0.1.0';

const CONFIG_SCHEMA = {
  type: 'object',
  properties: {
    column: { type: 'string', minLength: 1, description: 'the number column to score' },
    threshold: {
      type: 'number',
      exclusiveMinimum: 0,
      default: 3,
      description: 'flag values whose |z| exceeds this',
    },
    prefix: { type: 'string', default: '', description: 'prefix of the added column names' },
  },
  required: ['column'],
  additionalProperties: false,
};

function invalidConfig(message) {
  return { tag: 'invalid-config', val: message };
}

// The column's values as numbers, null where null; refuses a missing or text column.
function numbers(table, name) {
  const column = table.columns.find((c) => c.name === name);
  if (!column) {
    const names = table.columns.map((c) => c.name).join(', ');
    throw invalidConfig(`the input has no column \`${name}\`; its columns are ${names}`);
  }
  const { tag, val } = column.values;
  if (tag !== 'float64' && tag !== 'int64') {
    throw invalidConfig(`column \`${name}\` is ${tag}, not a number`);
  }
  const valid = column.validity;
  return Array.from(val, (v, i) => (valid === undefined || valid[i] ? Number(v) : null));
}

// Adds a column, or replaces the one of the same name.
function withColumn(columns, column) {
  const at = columns.findIndex((c) => c.name === column.name);
  return at < 0 ? [...columns, column] : columns.map((c, i) => (i === at ? column : c));
}

function optional(name, tag, values, fill) {
  const validity = values.map((v) => v !== null);
  return {
    name,
    values: { tag, val: values.map((v) => (v === null ? fill : v)) },
    validity: validity.every((v) => v) ? undefined : validity,
  };
}

export const block = {
  describe() {
    return {
      name: 'zscore-js',
      version: '1.0.0',
      description:
        'Adds the z-score of a number column and flags values beyond a threshold (JavaScript)',
      configSchema: JSON.stringify(CONFIG_SCHEMA),
      inputs: [{ name: 'in', description: 'rows with a number column', columns: undefined }],
      outputs: [
        {
          name: 'out',
          description: 'the same rows with `zscore` and `anomaly` added',
          columns: undefined,
        },
      ],
      inputFormat: 'columns',
    };
  },

  transform(config, inputs) {
    const settings = JSON.parse(config);
    const column = settings.column;
    const threshold = settings.threshold ?? 3;
    const prefix = settings.prefix ?? '';
    const table = inputs.find((t) => t.port === 'in').data.val;
    const values = numbers(table, column);

    // Summed in row order, as the Rust block does, so both give the same bits.
    const present = values.filter((v) => v !== null);
    const n = Math.max(present.length, 1);
    let total = 0;
    for (const v of present) total += v;
    const mean = total / n;
    let squares = 0;
    for (const v of present) squares += (v - mean) * (v - mean);
    const sd = Math.sqrt(squares / n);
    log(
      'info',
      `${column}: mean ${mean.toFixed(4)}, standard deviation ${sd.toFixed(4)} over ${present.length} values`,
    );

    // A constant column has no spread: nothing in it is an anomaly.
    const z = values.map((v) => (v === null ? null : sd > 0 ? (v - mean) / sd : 0));
    const flags = z.map((s) => (s === null ? null : Math.abs(s) > threshold));
    let columns = withColumn(table.columns, optional(`${prefix}zscore`, 'float64', z, 0));
    columns = withColumn(columns, optional(`${prefix}anomaly`, 'boolean', flags, false));
    return [{ port: 'out', data: { tag: 'columns', val: { rows: table.rows, columns } } }];
  },
};
