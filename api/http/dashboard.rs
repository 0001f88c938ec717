//! `/api/v1/dashboard`: the whole start page in one response.

use poem_openapi::{OpenApi, payload::Json};

use super::{ApiTags, StoreData, monitoring::EngineData, problem::ApiError, security::ReadAuth};
use crate::model::Dashboard;

pub struct DashboardApi;

#[OpenApi(tag = "ApiTags::Dashboard")]
impl DashboardApi {
    /// All groups in order, each with its tiles in order, read in one consistent snapshot.
    #[oai(path = "/dashboard", method = "get", operation_id = "getDashboard")]
    async fn get(
        &self,
        auth: ReadAuth,
        store: StoreData<'_>,
        engine: EngineData<'_>,
    ) -> Result<Json<Dashboard>, ApiError> {
        let mut dashboard = store.dashboard().await?;
        for tile in dashboard
            .groups
            .iter_mut()
            .flat_map(|group| group.services.iter_mut())
        {
            engine.freshen(&mut tile.service);
            if !auth.sees_secrets() {
                tile.service.hide_secrets();
            }
        }
        Ok(Json(dashboard))
    }
}
