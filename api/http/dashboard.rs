//! `/api/v1/dashboard`: the whole start page in one response.

use poem_openapi::{OpenApi, payload::Json};

use super::{ApiTags, StoreData, problem::ApiError};
use crate::model::Dashboard;

pub struct DashboardApi;

#[OpenApi(tag = "ApiTags::Dashboard")]
impl DashboardApi {
    /// All groups in order, each with its tiles in order, read in one consistent snapshot.
    #[oai(path = "/dashboard", method = "get", operation_id = "getDashboard")]
    async fn get(&self, store: StoreData<'_>) -> Result<Json<Dashboard>, ApiError> {
        Ok(Json(store.dashboard().await?))
    }
}
