//! `/api/v1/dashboard`: the whole start page in one response.

use poem_openapi::{OpenApi, payload::Json};

use super::{ApiTags, TilesData, problem::ApiError, security::Reader};
use crate::model::Dashboard;

pub struct DashboardApi;

#[OpenApi(tag = "ApiTags::Dashboard")]
impl DashboardApi {
    /// All groups in order, each with its tiles in order, read in one consistent snapshot.
    #[oai(path = "/dashboard", method = "get", operation_id = "getDashboard")]
    async fn get(&self, caller: Reader, tiles: TilesData<'_>) -> Result<Json<Dashboard>, ApiError> {
        Ok(Json(tiles.dashboard(caller.sight()).await?))
    }
}
