//! `keymint serve`: migrate, load keys, create the first admin key on an empty
//! database, then serve until SIGINT/SIGTERM.

use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;

pub async fn run(mut config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    // With port 0, the default issuer must name the port actually bound.
    config.listen = listener.local_addr()?;
    let admin = match config.admin_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (--admin-listen)"))?,
        ),
        None => None,
    };
    if let Some(admin) = &admin {
        config.admin_listen = Some(admin.local_addr()?);
    }
    config.log_effective();
    let app = crate::app::App::open(config, Arc::new(crate::clock::SystemClock)).await?;
    if let Some(revealed) = app.bootstrap_if_empty().await? {
        super::bootstrap::print_credentials(
            "Empty database: created a platform-admin API key",
            &revealed.key.id,
            revealed.secret.as_ref().map(|s| s.expose()),
        );
    }
    tracing::info!(addr = %listener.local_addr()?, issuer = %app.config.issuer(), "listening");
    if let Some(admin) = &admin {
        tracing::info!(
            admin_listen = %admin.local_addr()?,
            "serving /metrics, /healthz and /readyz on the admin port only"
        );
    }
    let listeners = crate::http::Listeners { public: listener, admin };
    crate::http::serve(app, listeners, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}
