//! The cluster's HA options in `/cluster/options` (datacenter.cfg): `ha: shutdown_policy`, `crs: ha,
//! ha-rebalance-on-start` and `fencing`. Writes are read-modify-write of only those sub-keys, so every other
//! datacenter option, and every other sub-key of `ha` and `crs`, is left as it was. Needs `Sys.Audit` on `/`
//! to read and `Sys.Modify` on `/` to write.

use pveha_model::{DatacenterHa, HaSettings};
use reqwest::Method;

use crate::error::{Error, Result};
use crate::retry::Outcome;
use crate::transport::Form;
use crate::Client;

const PATH: &str = "/cluster/options";

/// The HA options as the server holds them.
pub async fn get(client: &Client) -> Result<DatacenterHa> {
    let data = client.get_raw(PATH, &[]).await?;
    DatacenterHa::from_options(&data).map_err(|e| Error::Decode {
        path: PATH.to_string(),
        message: e.to_string(),
    })
}

/// Makes the server show `want` (unset values deleted, back to the server's defaults), sending only the
/// options whose managed sub-keys differ, and returns what the server shows afterwards. Nothing is sent when
/// the server already matches.
pub async fn update(client: &Client, want: &HaSettings) -> Result<DatacenterHa> {
    let have = get(client).await?;
    let up = have.update_for(want);
    if up.is_empty() {
        return Ok(have);
    }
    let mut form = Form::new();
    for (k, v) in &up.set {
        form.set(k, v);
    }
    for k in &up.delete {
        form.delete(k);
    }
    client
        .write(Method::PUT, PATH, form, || async {
            let now = get(client).await?;
            Ok(if now.settings() == *want {
                Outcome::Applied
            } else {
                Outcome::NotApplied
            })
        })
        .await?;
    get(client).await
}
