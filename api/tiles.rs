//! Tiles as the API sees them, in one place: every change goes to the store and is then told to the engine,
//! and every read lays the engine's newest status over the stored one and hides what the reader may not see.
//! Handlers call this; none of them talks to the engine about a tile itself.

use std::sync::Arc;

use crate::{
    board::{Board, Rendered},
    model::{CheckRun, Dashboard, NewService, Service, ServiceFilter, ServicePage, ServicePatch},
    monitor::engine::{CheckNowError, Engine},
    store::{Store, StoreError, StoreResult},
};

/// How much of a tile a reader may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sight {
    /// Everything, check header values included: those who may change the tile.
    Full,
    /// Secrets hidden: viewers, read tokens, anonymous visitors of a public dashboard.
    Redacted,
}

#[derive(Clone)]
pub struct Tiles {
    store: Arc<dyn Store>,
    engine: Engine,
    board: Arc<Board>,
}

impl Tiles {
    pub fn new(store: Arc<dyn Store>, engine: Engine) -> Self {
        let board = Arc::new(Board::new(store.clone(), engine.clone()));
        // The first reader should not wait for the first rendering: make it now, in the background.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let board = board.clone();
            runtime.spawn(async move {
                if let Err(err) = board.read(Sight::Full).await {
                    tracing::debug!(error = %err, "the dashboard could not be rendered ahead");
                }
            });
        }
        Self { store, engine, board }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Brings a tile to what `sight` may see of it, with the engine's newest status.
    fn show(&self, service: &mut Service, sight: Sight) {
        self.engine.freshen(service);
        if sight == Sight::Redacted {
            service.hide_secrets();
        }
    }

    pub async fn list(&self, filter: &ServiceFilter, sight: Sight) -> StoreResult<ServicePage> {
        let mut page = self.store.list_services(filter).await?;
        for service in &mut page.items {
            self.show(service, sight);
        }
        Ok(page)
    }

    pub async fn get(&self, id: i64, sight: Sight) -> StoreResult<Service> {
        let mut service = self.store.get_service(id).await?;
        self.show(&mut service, sight);
        Ok(service)
    }

    /// The dashboard as `sight` shows it, rendered by the board (which re-renders only what moved).
    pub async fn dashboard(&self, sight: Sight) -> StoreResult<Arc<Rendered>> {
        self.board.read(sight).await
    }

    /// The dashboard read and assembled whole, the way the board must agree with (tests compare them).
    pub async fn dashboard_read_whole(&self, sight: Sight) -> StoreResult<Dashboard> {
        let first_hour = Dashboard::first_hour(chrono::Utc::now());
        let mut dashboard = Dashboard::assemble(self.store.dashboard(first_hour).await?, first_hour);
        for tile in dashboard
            .groups
            .iter_mut()
            .flat_map(|group| group.services.iter_mut())
        {
            self.show(&mut tile.service, sight);
        }
        Ok(dashboard)
    }

    /// A new tile; one with a check is checked within a second, then on its interval.
    pub async fn create(&self, service: &NewService) -> StoreResult<Service> {
        let created = self.store.create_service(service).await?;
        self.engine.reload(created.id);
        Ok(created)
    }

    pub async fn update(&self, id: i64, patch: &ServicePatch) -> StoreResult<Service> {
        let updated = self.store.update_service(id, patch).await?;
        self.engine.reload(id);
        Ok(updated)
    }

    pub async fn delete(&self, id: i64) -> StoreResult<()> {
        self.store.delete_service(id).await?;
        self.engine.reload(id);
        Ok(())
    }

    pub async fn reorder(&self, group_id: i64, ids: &[i64]) -> StoreResult<Vec<Service>> {
        let mut services = self.store.reorder_services(group_id, ids).await?;
        for service in &mut services {
            self.show(service, Sight::Full);
        }
        Ok(services)
    }

    /// A new token for a tile's push check; the engine keeps watching it (its schedule is unchanged).
    pub async fn renew_push_token(&self, id: i64) -> StoreResult<Service> {
        let service = self.store.rotate_push_token(id).await?;
        self.engine.reload(id);
        Ok(service)
    }

    /// Pauses (`true`) or resumes a tile's checks.
    pub async fn set_paused(&self, id: i64, paused: bool) -> StoreResult<Service> {
        let service = self.store.set_paused(id, paused).await?;
        self.engine.reload(id);
        Ok(service)
    }

    /// Deletes a group; with `cascade` its tiles go too, and the engine stops checking them.
    pub async fn delete_group(&self, id: i64, cascade: bool) -> StoreResult<()> {
        self.store.delete_group(id, cascade).await?;
        if cascade {
            self.engine.reload_all();
        }
        Ok(())
    }

    /// Runs a tile's check now; answers once the result is stored.
    pub async fn check_now(&self, id: i64) -> Result<CheckRun, CheckNowError> {
        match self.engine.check_now(id).await {
            // Deleted, paused or unwatched while the check ran: say which, as if it had happened first.
            Err(CheckNowError::Unwatched(_)) => match self.store.get_service(id).await {
                Err(StoreError::NotFound { .. }) => Err(CheckNowError::NotFound(id)),
                Ok(service) if service.check.is_none() => Err(CheckNowError::NoCheck(id)),
                Ok(_) => Err(CheckNowError::Paused(id)),
                Err(err) => Err(err.into()),
            },
            other => other,
        }
    }
}
