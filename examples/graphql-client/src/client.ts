// A small client of Vitrine's GraphQL API with generated types (see ../README.md).
//
// It writes a workflow block by block, runs it, reads it back and sends it back with one
// block changed, then builds a report of typed tabs and tiles and asks a tile for its
// answer. Run with VITRINE_URL, VITRINE_TOKEN (an API token of an editor), PROJECT_ID,
// LOCATION and CSV_PATH (a CSV file of that resource location with `region` and `sales`
// columns); it prints one JSON line summing up what it saw.
import { readFileSync } from "node:fs";

import type {
  BlockConfigurationInput,
  BlockInput,
  BlockKindsQuery,
  BlockKindsQueryVariables,
  CreateReportMutation,
  CreateReportMutationVariables,
  ReportFilterInput,
  RunWorkflowMutation,
  RunWorkflowMutationVariables,
  SaveWorkflowMutation,
  SaveWorkflowMutationVariables,
  TabInput,
  TileResultQuery,
  TileResultQueryVariables,
  UpdateReportTabsMutation,
  UpdateReportTabsMutationVariables,
  WorkflowQuery,
  WorkflowQueryVariables,
} from "./generated.js";

/** An error the API answered with: its stable code and, for bad input, the field. */
export class VitrineError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly path: string | undefined,
  ) {
    super(message);
  }
}

interface GraphQLAnswer<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string; path?: string } }[];
}

const DOCUMENT = readFileSync(new URL("../src/operations.graphql", import.meta.url), "utf8");

function setting(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
}

/** Sends the named operation of operations.graphql; its types say what goes in and out. */
async function send<Data, Variables>(operationName: string, variables: Variables): Promise<Data> {
  const response = await fetch(`${setting("VITRINE_URL")}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${setting("VITRINE_TOKEN")}`,
    },
    body: JSON.stringify({ query: DOCUMENT, operationName, variables }),
  });
  const answer = (await response.json()) as GraphQLAnswer<Data>;
  const error = answer.errors?.[0];
  if (error) throw new VitrineError(error.message, error.extensions?.code, error.extensions?.path);
  if (!answer.data) throw new Error(`${operationName}: no data (HTTP ${response.status})`);
  return answer.data;
}

type SavedBlock = WorkflowQuery["workflow"]["blocks"][number];
type Configuration = SavedBlock["configuration"];

/**
 * A saved block's configuration as an input: the one field that is set, sent back as it
 * was read. Written out per kind so the compiler checks that each kind's output fits
 * its input.
 */
function configurationInput(c: Configuration): BlockConfigurationInput {
  if (c.csvSource) return { csvSource: c.csvSource };
  if (c.jsonlSource) return { jsonlSource: c.jsonlSource };
  if (c.parquetSource) return { parquetSource: c.parquetSource };
  if (c.arrowSource) return { arrowSource: c.arrowSource };
  if (c.uploadSource) return { uploadSource: c.uploadSource };
  if (c.inlineRows) return { inlineRows: c.inlineRows };
  if (c.instanceLog) return { instanceLog: c.instanceLog };
  if (c.sql) return { sql: c.sql };
  if (c.filter) return { filter: c.filter };
  if (c.select) return { select: c.select };
  if (c.join) return { join: c.join };
  if (c.aggregate) return { aggregate: c.aggregate };
  if (c.sort) return { sort: c.sort };
  if (c.union) return { union: c.union };
  if (c.formula) return { formula: c.formula };
  if (c.publish) return { publish: c.publish };
  if (c.writeFile) return { writeFile: c.writeFile };
  if (c.plugin) return { plugin: c.plugin };
  throw new Error("a block's configuration names no kind");
}

function blockInput(block: SavedBlock): BlockInput {
  return {
    id: block.id,
    inputs: block.inputs.map(({ port, source }) => ({ port, source })),
    configuration: configurationInput(block.configuration),
  };
}

async function main(): Promise<void> {
  const projectId = setting("PROJECT_ID");

  const { blockKinds } = await send<BlockKindsQuery, BlockKindsQueryVariables>("BlockKinds", {});
  const filterKind = blockKinds.find((k) => k.name === "filter");

  const blocks: BlockInput[] = [
    {
      id: "orders",
      configuration: { csvSource: { location: setting("LOCATION"), path: setting("CSV_PATH") } },
    },
    {
      id: "big",
      inputs: [{ port: "in", source: "orders" }],
      configuration: { filter: { condition: "sales > 100" } },
    },
    {
      id: "by_region",
      inputs: [{ port: "in", source: "big" }],
      configuration: {
        aggregate: {
          groupBy: ["region"],
          measures: [
            { column: "sales", function: "SUM", name: "sales" },
            { function: "COUNT", name: "orders" },
          ],
        },
      },
    },
    {
      id: "publish",
      inputs: [{ port: "in", source: "by_region" }],
      configuration: { publish: { dataset: "regions" } },
    },
  ];
  const first = await send<SaveWorkflowMutation, SaveWorkflowMutationVariables>("SaveWorkflow", {
    projectId,
    blocks,
  });

  // Read back, change one block, send everything back.
  const { workflow } = await send<WorkflowQuery, WorkflowQueryVariables>("Workflow", { projectId });
  const csv = workflow.blocks.find((b) => b.id === "orders")?.configuration.csvSource;
  const edited = workflow.blocks.map((block) =>
    block.configuration.filter
      ? { ...blockInput(block), configuration: { filter: { condition: "sales > 0" } } }
      : blockInput(block),
  );
  const second = await send<SaveWorkflowMutation, SaveWorkflowMutationVariables>("SaveWorkflow", {
    projectId,
    blocks: edited,
    expectedVersion: workflow.version,
  });
  const run = await send<RunWorkflowMutation, RunWorkflowMutationVariables>("RunWorkflow", {
    projectId,
  });

  // A stale version is refused with a code a client can act on.
  let staleCode: string | undefined;
  try {
    await send<SaveWorkflowMutation, SaveWorkflowMutationVariables>("SaveWorkflow", {
      projectId,
      blocks: edited,
      expectedVersion: workflow.version,
    });
  } catch (e) {
    if (!(e instanceof VitrineError)) throw e;
    staleCode = e.code;
  }

  const tabs: TabInput[] = [
    {
      id: "overview",
      title: "Overview",
      tiles: [
        {
          id: "sales",
          title: "Sales by region",
          kind: "BAR",
          query: {
            dataset: "regions",
            dimensions: ["region"],
            measures: [{ column: "sales", function: "SUM", name: "sales" }],
            sort: [{ column: "sales", descending: true }],
          },
        },
      ],
    },
  ];
  const filters: ReportFilterInput[] = [{ id: "region", label: "Region", column: "region" }];
  const { createReport: report } = await send<CreateReportMutation, CreateReportMutationVariables>(
    "CreateReport",
    { projectId, name: "Regions", tabs, filters },
  );
  // Tabs read back are tab inputs: rename the tile and send them back.
  const renamed: TabInput[] = report.tabs.map((tab) => ({
    ...tab,
    tiles: tab.tiles.map((tile) => ({ ...tile, title: `${tile.title} (typed)` })),
  }));
  const { updateReport } = await send<UpdateReportTabsMutation, UpdateReportTabsMutationVariables>(
    "UpdateReportTabs",
    { id: report.id, tabs: renamed },
  );
  const { tileResult } = await send<TileResultQuery, TileResultQueryVariables>("TileResult", {
    reportId: report.id,
    tileId: "sales",
    filters: [{ filter: "region", values: ["West", "East"] }],
  });

  console.log(
    JSON.stringify({
      kinds: blockKinds.length,
      filterField: filterKind?.configurationField,
      versions: [first.saveWorkflow.version, second.saveWorkflow.version],
      csvDefaults: csv ? { header: csv.header, delimiter: csv.delimiter, onError: csv.onError } : null,
      run: run.runWorkflow.status,
      staleCode,
      tile: updateReport.tabs[0]?.tiles[0]?.title,
      filterOp: updateReport.filters[0]?.op,
      rows: tileResult.rowCount,
    }),
  );
}

main().catch((e: unknown) => {
  console.error(e instanceof VitrineError ? `${e.code} at ${e.path}: ${e.message}` : e);
  process.exit(1);
});
