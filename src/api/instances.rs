//! `/api/v1/instances`: the registry, as `dbfleet instance …` keeps it.
//!
//! Passwords are write-only references: a request names an environment
//! variable (`password_env`), a file (`password_file`) or a named
//! `credential`, and no answer ever carries a reference back, only which
//! kind of source the instance uses.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, Body, ErrorBody, Params};
use super::ApiState;
use crate::domain::{CredentialName, DbType, InstanceId, InstanceName};
use crate::labels::{Labels, Selector};
use crate::secret::PasswordRef;
use crate::store::{Instance, NewInstance};
use crate::tls::{TlsMode, TlsSettings};
use utoipa::{IntoParams, ToSchema};

/// An instance as the API shows it: everything but its password reference.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceView {
    #[schema(value_type = i64)]
    pub id: InstanceId,
    #[schema(value_type = String)]
    pub name: InstanceName,
    /// `mysql` or `postgresql`.
    #[schema(value_type = String)]
    pub engine: DbType,
    pub host: String,
    pub port: u16,
    pub database: Option<String>,
    pub username: String,
    /// `env`, `file` or `none`: where the password comes from.
    pub password_source: &'static str,
    #[schema(value_type = Option<String>)]
    pub credential: Option<CredentialName>,
    pub tls_mode: &'static str,
    #[schema(value_type = Option<String>)]
    pub tls_ca_file: Option<PathBuf>,
    #[schema(value_type = Option<String>)]
    pub tls_cert_file: Option<PathBuf>,
    #[schema(value_type = Option<String>)]
    pub tls_key_file: Option<PathBuf>,
    pub active: bool,
    pub managed: bool,
    #[schema(value_type = BTreeMap<String, String>)]
    pub labels: Labels,
}

/// `GET /instances`: every instance that matches, by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceList {
    items: Vec<InstanceView>,
}

impl From<Instance> for InstanceView {
    fn from(i: Instance) -> Self {
        Self {
            id: i.id,
            password_source: i.password.to_parts().0,
            tls_mode: i.tls.mode.name(i.db_type),
            name: i.name,
            engine: i.db_type,
            host: i.host,
            port: i.port,
            database: i.database,
            username: i.username,
            credential: i.credential,
            tls_ca_file: i.tls.ca_file,
            tls_cert_file: i.tls.cert_file,
            tls_key_file: i.tls.key_file,
            active: i.is_active,
            managed: i.managed,
            labels: i.labels,
        }
    }
}

/// `GET /instances` filters; all optional.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    engine: Option<String>,
    active: Option<bool>,
    /// Instances whose name contains this.
    name: Option<String>,
    selector: Option<String>,
}

#[utoipa::path(get, operation_id = "list_instances", path = "/instances", tag = "instances", params(ListQuery),
    responses((status = 200, description = "The instances that match", body = InstanceList), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody)))]
pub async fn list(
    State(state): State<ApiState>,
    Params(query): Params<ListQuery>,
) -> Result<Json<InstanceList>, ApiError> {
    let engine = query
        .engine
        .as_deref()
        .map(|raw| {
            raw.parse::<DbType>()
                .map_err(|e| ApiError::invalid("engine", e))
        })
        .transpose()?;
    let selector = query
        .selector
        .as_deref()
        .map(|raw| Selector::parse(raw).map_err(|e| ApiError::invalid("selector", e)))
        .transpose()?;
    let items: Vec<InstanceView> = state
        .store
        .instances()
        .list()
        .await?
        .into_iter()
        .filter(|i| engine.is_none_or(|e| i.db_type == e))
        .filter(|i| query.active.is_none_or(|a| i.is_active == a))
        .filter(|i| {
            query
                .name
                .as_deref()
                .is_none_or(|n| i.name.as_str().contains(n))
        })
        .filter(|i| selector.as_ref().is_none_or(|s| s.matches(&i.labels)))
        .map(InstanceView::from)
        .collect();
    Ok(Json(InstanceList { items }))
}

/// The body of `POST /instances`: the fields of `dbfleet instance add`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInstance {
    name: String,
    engine: String,
    host: String,
    #[schema(minimum = 1, maximum = 65535)]
    port: Option<u16>,
    database: Option<String>,
    username: Option<String>,
    password_env: Option<String>,
    #[schema(value_type = Option<String>)]
    password_file: Option<PathBuf>,
    credential: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    tls_mode: Option<String>,
    #[schema(value_type = Option<String>)]
    tls_ca_file: Option<PathBuf>,
    #[schema(value_type = Option<String>)]
    tls_cert_file: Option<PathBuf>,
    #[schema(value_type = Option<String>)]
    tls_key_file: Option<PathBuf>,
}

#[utoipa::path(post, operation_id = "add_instance", path = "/instances", tag = "instances", request_body = CreateInstance,
    responses((status = 201, description = "The instance", body = InstanceView), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody), (status = 409, description = "Conflict", body = ErrorBody), (status = 401, description = "No token, or not `Bearer <token>`", body = ErrorBody), (status = 403, description = "Wrong token", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 422, description = "Malformed JSON", body = ErrorBody)))]
pub async fn create(
    State(state): State<ApiState>,
    Body(body): Body<CreateInstance>,
) -> Result<(StatusCode, Json<InstanceView>), ApiError> {
    let new = new_instance(body, state.default_tls)?;
    no_nul(&new)?;
    let added = state.store.instances().add(&new).await?;
    tracing::info!(instance = %added.name, id = %added.id, "instance added through the API");
    Ok((StatusCode::CREATED, Json(added.into())))
}

fn new_instance(body: CreateInstance, default_tls: TlsMode) -> Result<NewInstance, ApiError> {
    let name = InstanceName::parse(&body.name).map_err(|e| ApiError::invalid("name", e))?;
    let engine: DbType = body
        .engine
        .parse()
        .map_err(|e| ApiError::invalid("engine", e))?;
    if body.host.trim().is_empty() {
        return Err(ApiError::invalid("host", "must not be empty"));
    }
    let tls = TlsSettings {
        mode: tls_mode(engine, body.tls_mode.as_deref(), default_tls)?,
        ca_file: body.tls_ca_file,
        cert_file: body.tls_cert_file,
        key_file: body.tls_key_file,
    };
    check_tls(&tls)?;
    Ok(NewInstance {
        name,
        db_type: engine,
        host: body.host,
        port: port(body.port)?.unwrap_or(engine.default_port()),
        database: body.database,
        username: body.username.unwrap_or_default(),
        password: password(body.password_env.as_deref(), body.password_file)?,
        credential: credential(body.credential.as_deref())?,
        tls,
        managed: false,
        labels: labels(body.labels)?,
    })
}

/// The store's text holds no NUL character (PostgreSQL refuses one): a
/// field with one is the client's mistake, named, not a server error.
fn no_nul(new: &NewInstance) -> Result<(), ApiError> {
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let password = match &new.password {
        PasswordRef::File(file) => Some(file.display().to_string()),
        PasswordRef::Env(_) | PasswordRef::None => None,
    };
    let fields = [
        ("host", Some(new.host.clone())),
        ("database", new.database.clone()),
        ("username", Some(new.username.clone())),
        ("password_file", password),
        ("tls_ca_file", path(&new.tls.ca_file)),
        ("tls_cert_file", path(&new.tls.cert_file)),
        ("tls_key_file", path(&new.tls.key_file)),
    ];
    match fields
        .iter()
        .find(|(_, value)| value.as_deref().is_some_and(|v| v.contains('\0')))
    {
        Some((field, _)) => Err(ApiError::invalid(field, "must not contain a NUL character")),
        None => Ok(()),
    }
}

/// A TCP port: 0 is no port to connect to.
fn port(port: Option<u16>) -> Result<Option<u16>, ApiError> {
    match port {
        Some(0) => Err(ApiError::invalid("port", "must be between 1 and 65535")),
        other => Ok(other),
    }
}

fn tls_mode(engine: DbType, raw: Option<&str>, default: TlsMode) -> Result<TlsMode, ApiError> {
    raw.map_or(Ok(default), |raw| {
        TlsMode::parse(engine, raw).map_err(|e| ApiError::invalid("tls_mode", e))
    })
}

fn check_tls(tls: &TlsSettings) -> Result<(), ApiError> {
    match tls.problems().first() {
        Some((key, problem)) => Err(ApiError::invalid(key, problem)),
        None => Ok(()),
    }
}

/// A password reference: a variable or a file, at most one.
fn password(env: Option<&str>, file: Option<PathBuf>) -> Result<PasswordRef, ApiError> {
    match (env, file) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "password_file",
            "give `password_env` or `password_file`, not both",
        )),
        (Some(var), None) => {
            PasswordRef::env(var).map_err(|e| ApiError::invalid("password_env", e))
        }
        (None, Some(path)) => Ok(PasswordRef::File(path)),
        (None, None) => Ok(PasswordRef::None),
    }
}

fn credential(raw: Option<&str>) -> Result<Option<CredentialName>, ApiError> {
    raw.map(|raw| CredentialName::parse(raw).map_err(|e| ApiError::invalid("credential", e)))
        .transpose()
}

fn labels(pairs: BTreeMap<String, String>) -> Result<Labels, ApiError> {
    Labels::new(pairs).map_err(|problems| ApiError::invalid("labels", problems.join("; ")))
}

/// An instance by its name in the path; 404 when there is none.
pub(super) async fn by_name(state: &ApiState, raw: &str) -> Result<Instance, ApiError> {
    let name = InstanceName::parse(raw).map_err(|e| ApiError::invalid("name", e))?;
    state
        .store
        .instances()
        .by_name(&name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no instance named `{name}`")))
}

#[utoipa::path(get, operation_id = "get_instance", path = "/instances/{name}", tag = "instances", params(("name" = String, Path, description = "The instance's name")),
    responses((status = 200, description = "The instance", body = InstanceView), (status = 404, description = "Not found", body = ErrorBody)))]
pub async fn get(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<InstanceView>, ApiError> {
    Ok(Json(by_name(&state, &name).await?.into()))
}

#[utoipa::path(delete, operation_id = "remove_instance", path = "/instances/{name}", tag = "instances", params(("name" = String, Path, description = "The instance's name")),
    responses((status = 204, description = "Removed (its history stays)"), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No token, or not `Bearer <token>`", body = ErrorBody), (status = 403, description = "Wrong token", body = ErrorBody)))]
pub async fn delete(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let instance = by_name(&state, &name).await?;
    state.store.instances().remove(&instance.name).await?;
    tracing::info!(instance = %instance.name, "instance removed through the API");
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `PATCH /instances/{name}`: any field of [`CreateInstance`]
/// but the name, plus `active`. Absent fields keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchInstance {
    host: Option<String>,
    #[schema(minimum = 1, maximum = 65535)]
    port: Option<u16>,
    database: Option<String>,
    username: Option<String>,
    password_env: Option<String>,
    #[schema(value_type = Option<String>)]
    password_file: Option<PathBuf>,
    credential: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    tls_mode: Option<String>,
    #[schema(value_type = Option<String>)]
    tls_ca_file: Option<PathBuf>,
    #[schema(value_type = Option<String>)]
    tls_cert_file: Option<PathBuf>,
    #[schema(value_type = Option<String>)]
    tls_key_file: Option<PathBuf>,
    active: Option<bool>,
}

#[utoipa::path(patch, operation_id = "update_instance", path = "/instances/{name}", tag = "instances", params(("name" = String, Path, description = "The instance's name")),
    request_body = PatchInstance,
    responses((status = 200, description = "The instance, same id", body = InstanceView), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No token, or not `Bearer <token>`", body = ErrorBody), (status = 403, description = "Wrong token", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 422, description = "Malformed JSON", body = ErrorBody)))]
pub async fn patch(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<PatchInstance>,
) -> Result<Json<InstanceView>, ApiError> {
    let instance = by_name(&state, &name).await?;
    let active = body.active;
    let new = patched(&instance, body)?;
    no_nul(&new)?;
    let instances = state.store.instances();
    instances.update(instance.id, &new).await?;
    if let Some(active) = active {
        instances.override_active(&instance.name, active).await?;
    }
    tracing::info!(instance = %instance.name, "instance updated through the API");
    Ok(Json(by_name(&state, &name).await?.into()))
}

/// `instance` with the patch's fields over it; the id and name stay.
fn patched(instance: &Instance, body: PatchInstance) -> Result<NewInstance, ApiError> {
    let engine = instance.db_type;
    let tls = TlsSettings {
        mode: tls_mode(engine, body.tls_mode.as_deref(), instance.tls.mode)?,
        ca_file: body.tls_ca_file.or_else(|| instance.tls.ca_file.clone()),
        cert_file: body
            .tls_cert_file
            .or_else(|| instance.tls.cert_file.clone()),
        key_file: body.tls_key_file.or_else(|| instance.tls.key_file.clone()),
    };
    check_tls(&tls)?;
    let new_password = body.password_env.is_some() || body.password_file.is_some();
    let password = if new_password {
        password(body.password_env.as_deref(), body.password_file)?
    } else {
        instance.password.clone()
    };
    let credential = match body.credential.as_deref() {
        Some(raw) => credential(Some(raw))?,
        None if new_password => None,
        None => instance.credential.clone(),
    };
    Ok(NewInstance {
        name: instance.name.clone(),
        db_type: engine,
        host: body.host.unwrap_or_else(|| instance.host.clone()),
        port: port(body.port)?.unwrap_or(instance.port),
        database: body.database.or_else(|| instance.database.clone()),
        username: body.username.unwrap_or_else(|| instance.username.clone()),
        password,
        credential,
        tls,
        managed: instance.managed,
        labels: body
            .labels
            .map_or_else(|| Ok(instance.labels.clone()), labels)?,
    })
}
