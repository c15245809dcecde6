//! Block plans read their partitions one after another, in order.
//!
//! A block runs in one partition ([`super::exec`] says why), yet a UNION still yields one
//! partition per input, and DataFusion merges partitions in whatever order their batches
//! arrive (`CoalescePartitionsExec`). That order changes from run to run, and with it the
//! rows a GROUP BY meets first and the last bits of a float sum: the same inputs would
//! store different bytes. [`ReadPartitionsInOrder`] swaps each such merge for
//! [`InOrderExec`], which reads partition 0 to its end, then partition 1, and so on.

use std::fmt;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, internal_err};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::limit::GlobalLimitExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};

/// One partition made of its input's partitions, concatenated in partition order.
#[derive(Debug)]
pub(crate) struct InOrderExec {
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl InOrderExec {
    pub(crate) fn new(input: Arc<dyn ExecutionPlan>) -> InOrderExec {
        // Each partition may be sorted; their concatenation is not.
        let mut eq = input.equivalence_properties().clone();
        eq.clear_orderings();
        eq.clear_per_partition_constants();
        let properties = PlanProperties::new(
            eq,
            Partitioning::UnknownPartitioning(1),
            input.pipeline_behavior(),
            input.boundedness(),
        );
        InOrderExec {
            input,
            properties: Arc::new(properties),
        }
    }
}

impl DisplayAs for InOrderExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "InOrderExec")
    }
}

impl ExecutionPlan for InOrderExec {
    fn name(&self) -> &str {
        "InOrderExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("InOrderExec takes one input, got {}", children.len());
        }
        Ok(Arc::new(InOrderExec::new(children.swap_remove(0))))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("InOrderExec has one partition, asked for {partition}");
        }
        let input = self.input.clone();
        let partitions = input.output_partitioning().partition_count();
        // Each partition starts only when the one before it has ended.
        let batches = futures::stream::iter(0..partitions)
            .map(move |i| input.execute(i, context.clone()))
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            batches,
        )))
    }
}

/// Replaces every merge of several partitions by an in-order read (keeping its limit).
#[derive(Debug, Default)]
pub(crate) struct ReadPartitionsInOrder;

impl PhysicalOptimizerRule for ReadPartitionsInOrder {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(merge) = node.downcast_ref::<CoalescePartitionsExec>() else {
                return Ok(Transformed::no(node));
            };
            let input = merge.input().clone();
            if input.output_partitioning().partition_count() < 2 {
                return Ok(Transformed::no(node));
            }
            let in_order: Arc<dyn ExecutionPlan> = Arc::new(InOrderExec::new(input));
            Ok(Transformed::yes(match merge.fetch() {
                Some(n) => Arc::new(GlobalLimitExec::new(in_order, 0, Some(n))),
                None => in_order,
            }))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "read_partitions_in_order"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
