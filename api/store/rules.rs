//! The rules the stores keep, written once: each judges what a store read inside the transaction that
//! then acts on the answer, so the rule holds however many requests race.

use super::{StoreError, StoreResult};
use crate::model::{Role, check_order_covers};

/// A group that still has tiles goes only with `cascade`.
pub fn group_may_go(id: i64, tiles: i64, cascade: bool) -> StoreResult<()> {
    if tiles == 0 || cascade {
        return Ok(());
    }
    Err(StoreError::Conflict {
        field: None,
        message: format!(
            "group {id} still has {tiles} service(s): delete or move them first, \
             or pass cascade=true to delete them with the group"
        ),
    })
}

/// A new order names every id of the collection exactly once.
/// (One that does not match the collection as it is now, a tile added or removed meanwhile or an unknown id,
/// conflicts with it.)
pub fn order_covers(requested: &[i64], existing: &[i64]) -> StoreResult<()> {
    check_order_covers(requested, existing).map_err(|message| StoreError::Conflict {
        field: Some("ids"),
        message,
    })
}

/// The first admin is created once, even by two requests at once.
pub fn first_user_once(users: i64) -> StoreResult<()> {
    match users {
        0 => Ok(()),
        _ => Err(setup_done()),
    }
}

/// What setup answers once a user exists.
pub fn setup_done() -> StoreError {
    StoreError::Conflict {
        field: None,
        message: "setup is done: a user exists already. Sign in with POST /api/v1/auth/login".into(),
    }
}

/// The last admin stays an admin: a user with role `current` may become `next` (None: be deleted) only while
/// another admin remains.
pub fn admin_stays(current: Role, next: Option<Role>, admins: i64) -> StoreResult<()> {
    let loses_an_admin = current == Role::Admin && next != Some(Role::Admin);
    if loses_an_admin && admins <= 1 {
        return Err(StoreError::Conflict {
            field: Some("role"),
            message: "this is the last admin: make another user admin first".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_with_tiles_needs_cascade() {
        assert!(group_may_go(1, 0, false).is_ok());
        assert!(group_may_go(1, 3, true).is_ok());
        let refused = group_may_go(7, 3, false).unwrap_err();
        assert!(refused.to_string().contains("group 7 still has 3"), "{refused}");
    }

    #[test]
    fn the_last_admin_stays() {
        assert!(admin_stays(Role::Admin, Some(Role::Viewer), 2).is_ok());
        assert!(admin_stays(Role::Admin, Some(Role::Viewer), 1).is_err());
        assert!(
            admin_stays(Role::Admin, None, 1).is_err(),
            "deleting the last admin"
        );
        assert!(admin_stays(Role::Admin, Some(Role::Admin), 1).is_ok());
        assert!(admin_stays(Role::Viewer, None, 1).is_ok());
    }

    #[test]
    fn the_first_user_is_created_once() {
        assert!(first_user_once(0).is_ok());
        assert!(matches!(first_user_once(1), Err(StoreError::Conflict { .. })));
    }

    #[test]
    fn an_order_names_every_id_once() {
        assert!(order_covers(&[2, 1], &[1, 2]).is_ok());
        assert!(matches!(
            order_covers(&[1], &[1, 2]),
            Err(StoreError::Conflict {
                field: Some("ids"),
                ..
            })
        ));
    }
}
