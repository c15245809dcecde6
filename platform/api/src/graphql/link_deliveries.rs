//! A recipient's own scheduled deliveries, at the link's endpoint (`POST
//! /s/v/LINK/graphql`): list, schedule and cancel them when the link carries the
//! `schedule` right. Each mails the report the link shows, as the recipient sees it, to
//! the recipient's own address.

use async_graphql::{Context, ID, InputObject, Object};

use super::link::link_access;
use super::services;
use super::sharing_types::LinkDelivery;
use crate::GqlResult;
use crate::services::NewLinkDelivery;

type R<T> = async_graphql::Result<T>;

#[derive(InputObject)]
pub struct LinkDeliveryInput {
    /// Needed only for a link to a whole project.
    pub report_id: Option<ID>,
    /// A five-field cron expression, e.g. `0 7 * * MON`.
    pub cron: String,
    #[graphql(default = "UTC")]
    pub time_zone: String,
    #[graphql(default)]
    pub csv: bool,
    pub subject: Option<String>,
}

#[derive(Default)]
pub struct LinkDeliveryMutation;

#[Object]
impl LinkDeliveryMutation {
    /// Schedules a delivery of what this link shows to the recipient's own address (the
    /// link's `schedule` right). At most 10 per recipient; not more often than the
    /// instance runs tasks. At `POST /s/v/LINK/graphql` only.
    async fn schedule_link_delivery(
        &self,
        ctx: &Context<'_>,
        input: LinkDeliveryInput,
    ) -> R<LinkDelivery> {
        let a = link_access(ctx).gql()?;
        let new = NewLinkDelivery {
            report_uid: input.report_id.map(|r| r.0),
            cron: input.cron,
            time_zone: input.time_zone,
            csv: input.csv,
            subject: input.subject,
        };
        let tasks = services(ctx).tasks();
        Ok(tasks.schedule_link_delivery(a, new).await.gql()?.into())
    }

    /// Cancels one of the recipient's own deliveries. At `POST /s/v/LINK/graphql` only.
    async fn cancel_link_delivery(&self, ctx: &Context<'_>, id: ID) -> R<bool> {
        let a = link_access(ctx).gql()?;
        let tasks = services(ctx).tasks();
        tasks.cancel_link_delivery(a, &id).await.gql()?;
        Ok(true)
    }
}
