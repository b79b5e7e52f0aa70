//! Route 53 tags of hosted zones and health checks: ChangeTagsForResource,
//! ListTagsForResource and ListTagsForResources. The limits are the
//! service's ([`Service::change_route53_tags`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::error::R53Error;
use super::xml::{self, Doc};
use super::{R53Path, Signed, call, reply};
use crate::api::ApiState;
use crate::service::{Service, TagResource};

/// Most resources one ListTagsForResources names (Route 53's).
const MAX_RESOURCES_PER_LIST: usize = 10;

/// ChangeTagsForResourceRequest.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeTagsRequest {
    #[serde(default)]
    add_tags: Option<TagList>,
    #[serde(default)]
    remove_tag_keys: Option<KeyList>,
}

/// TagList.
#[derive(Debug, Default, Deserialize)]
struct TagList {
    #[serde(rename = "Tag", default)]
    items: Vec<Tag>,
}

/// Tag: Route 53's model makes both parts optional; a missing key is
/// refused as empty, a missing value is empty.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
}

/// TagKeyList.
#[derive(Debug, Default, Deserialize)]
struct KeyList {
    #[serde(rename = "Key", default)]
    items: Vec<String>,
}

/// ListTagsForResourcesRequest.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsRequest {
    #[serde(default)]
    resource_ids: Option<ResourceIds>,
}

/// TagResourceIdList.
#[derive(Debug, Default, Deserialize)]
struct ResourceIds {
    #[serde(rename = "ResourceId", default)]
    items: Vec<String>,
}

fn resource_type(text: &str) -> Result<TagResource, R53Error> {
    match text {
        "hostedzone" => Ok(TagResource::HostedZone),
        "healthcheck" => Ok(TagResource::HealthCheck),
        other => Err(R53Error::invalid_input(format!(
            "ResourceType {other:?} is not hostedzone or healthcheck"
        ))),
    }
}

/// One ResourceTagSet.
fn write_tag_set(doc: &mut Doc, resource: TagResource, id: &str, tags: &[(String, String)]) {
    doc.open("ResourceTagSet")
        .text("ResourceType", resource.as_str())
        .text("ResourceId", id)
        .open("Tags");
    for (key, value) in tags {
        doc.open("Tag")
            .text("Key", key)
            .text("Value", value)
            .close();
    }
    doc.close().close();
}

pub(super) async fn change_tags(
    State(s): State<ApiState>,
    R53Path((kind, id)): R53Path<(String, String)>,
    Signed(body): Signed,
) -> Result<Response, R53Error> {
    let resource = resource_type(&kind)?;
    let req: ChangeTagsRequest = xml::parse(&body).map_err(R53Error::invalid_input)?;
    let add: Vec<(String, String)> = req
        .add_tags
        .map(|l| l.items.into_iter().map(|t| (t.key, t.value)).collect())
        .unwrap_or_default();
    let remove = req.remove_tag_keys.map(|l| l.items).unwrap_or_default();
    call(&s, move |svc| {
        Ok(svc.change_route53_tags(resource, &id, &add, &remove)?)
    })
    .await?;
    Ok(reply(
        StatusCode::OK,
        Doc::new("ChangeTagsForResourceResponse"),
    ))
}

pub(super) async fn list_tags(
    State(s): State<ApiState>,
    R53Path((kind, id)): R53Path<(String, String)>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let resource = resource_type(&kind)?;
    let (owner, tags) = call(&s, move |svc| Ok(svc.route53_tags(resource, &id)?)).await?;
    let mut doc = Doc::new("ListTagsForResourceResponse");
    write_tag_set(&mut doc, resource, &owner, &tags);
    Ok(reply(StatusCode::OK, doc))
}

pub(super) async fn list_tags_for_resources(
    State(s): State<ApiState>,
    R53Path(kind): R53Path<String>,
    Signed(body): Signed,
) -> Result<Response, R53Error> {
    let resource = resource_type(&kind)?;
    let req: ListTagsRequest = xml::parse(&body).map_err(R53Error::invalid_input)?;
    let ids = req.resource_ids.map(|r| r.items).unwrap_or_default();
    if ids.is_empty() || ids.len() > MAX_RESOURCES_PER_LIST {
        return Err(R53Error::invalid_input(format!(
            "ResourceIds: {} given, 1 to {MAX_RESOURCES_PER_LIST} allowed",
            ids.len()
        )));
    }
    let sets = call(&s, move |svc: &Service| {
        ids.iter()
            .map(|id| Ok(svc.route53_tags(resource, id)?))
            .collect::<Result<Vec<_>, R53Error>>()
    })
    .await?;
    let mut doc = Doc::new("ListTagsForResourcesResponse");
    doc.open("ResourceTagSets");
    for (owner, tags) in &sets {
        write_tag_set(&mut doc, resource, owner, tags);
    }
    doc.close();
    Ok(reply(StatusCode::OK, doc))
}
