//! Whose rows a public or recipients link shows: the attribute values the link carries
//! (the creator's when it was made, unless given), or a recipient's own. They change only
//! on the link or the recipient, so nothing done to the creator's account later widens
//! what an existing link shows. Members opening private and authenticated links see what
//! their own attributes allow, and those links carry none.

use std::collections::BTreeMap;

use vitrine_core::{AuditAction, LinkKind};
use vitrine_storage::{ShareLinkRecord, ShareRecipientRecord, UserRecord};

use super::Sharing;
use crate::Audit;
use crate::caller::Caller;
use crate::directory::users::parse_attributes;
use crate::{ApiError, ApiResult};

/// Attribute values as given through the API: `(key, values)` pairs.
pub type AttributeInput = Vec<(String, Vec<String>)>;

/// One access filter as it applies to a link's audience: rows of `dataset` whose `column`
/// holds one of `values` (none: no rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterInForce {
    pub dataset: String,
    pub column: String,
    pub attribute: String,
    pub values: Vec<String>,
}

/// The attribute values a new link carries: those given, else the creator's, for links
/// that reach outsiders; none for members' links (and giving some is refused).
pub(super) fn new_link_attributes(
    kind: LinkKind,
    given: Option<AttributeInput>,
    creator: &UserRecord,
) -> ApiResult<Option<BTreeMap<String, Vec<String>>>> {
    match (kind.reaches_outsiders(), given) {
        (true, Some(a)) => Ok(Some(parse_attributes("attributes", a)?)),
        (true, None) => Ok(Some(creator.attributes.clone())),
        (false, None) => Ok(None),
        (false, Some(_)) => Err(members_see_their_own()),
    }
}

fn members_see_their_own() -> ApiError {
    ApiError::invalid(
        "attributes: private and authenticated links show each member what their own attributes allow; only public and recipients links carry attribute values",
    )
}

/// The attribute values rows are selected with for one visit of an outsiders' link.
pub(crate) fn audience_of(
    link: &ShareLinkRecord,
    recipient: Option<&ShareRecipientRecord>,
) -> BTreeMap<String, Vec<String>> {
    recipient
        .and_then(|r| r.attributes.clone())
        .or_else(|| link.attributes.clone())
        .unwrap_or_default()
}

impl Sharing {
    /// Replaces the attribute values a link's audience is shown rows with.
    pub(super) fn change_link_attributes(
        link: &mut ShareLinkRecord,
        given: AttributeInput,
    ) -> ApiResult<()> {
        if !link.kind.reaches_outsiders() {
            return Err(members_see_their_own());
        }
        link.attributes = Some(parse_attributes("attributes", given)?);
        Ok(())
    }

    /// Gives a recipient attribute values of their own, or (`None`) makes them see what
    /// the link's values allow again. The link's managers only; audited.
    pub async fn set_recipient_attributes(
        &self,
        caller: &Caller,
        recipient_uid: &str,
        attributes: Option<AttributeInput>,
    ) -> ApiResult<ShareRecipientRecord> {
        caller.require_write()?;
        let uid = vitrine_core::RecipientId::from(recipient_uid);
        let mut recipient = self
            .store
            .share_recipient(&uid)
            .await?
            .ok_or_else(|| ApiError::not_found("recipient"))?;
        self.managed_link(caller, &recipient.link_uid).await?;
        recipient.attributes = match attributes {
            Some(a) => Some(parse_attributes("attributes", a)?),
            None => None,
        };
        let detail = match &recipient.attributes {
            Some(a) => format!("own attribute values for {}", keys(a)),
            None => "the link's attribute values".to_owned(),
        };
        let object = format!("share_recipient:{uid}");
        let event = Audit::event(caller, AuditAction::ShareRecipientUpdate, &object, &detail);
        self.store.save_share_recipient(&recipient, &event).await?;
        Ok(recipient)
    }

    /// The access filters of the link's project as they apply to its audience (for a
    /// recipients link: the link's own values; recipients with their own show theirs).
    /// Empty for members' links, which apply each member's own.
    /// Answered for a link the caller already holds (its ledger entry).
    pub async fn filters_in_force(&self, link_uid: &str) -> ApiResult<Vec<FilterInForce>> {
        let link = self
            .store
            .share_link(&vitrine_core::LinkId::from(link_uid))
            .await?
            .ok_or_else(|| ApiError::not_found("share link"))?;
        let Some(values) = &link.attributes else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for p in self.visit_projects(&link).await? {
            let rules = self.data.rules_of(&p.uid).await?;
            let filters = rules.into_iter().flat_map(|(dataset, rules)| {
                rules.into_iter().map(move |r| FilterInForce {
                    dataset: dataset.clone(),
                    values: values.get(&r.attribute).cloned().unwrap_or_default(),
                    column: r.column,
                    attribute: r.attribute,
                })
            });
            // Projects sharing a dataset name and rule show it once.
            for f in filters {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
        Ok(out)
    }
}

fn keys(a: &BTreeMap<String, Vec<String>>) -> String {
    let keys: Vec<&str> = a.keys().map(String::as_str).collect();
    if keys.is_empty() {
        "no attribute".to_owned()
    } else {
        keys.join(", ")
    }
}
