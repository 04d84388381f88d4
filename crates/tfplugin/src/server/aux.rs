//! go-plugin's auxiliary services: health (`plugin` is SERVING), the controller whose Shutdown ends the
//! server gracefully, and idle stdio and broker streams that close when the server shuts down.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tokio::sync::watch;
use tonic::{Request, Response, Status, Streaming};

use super::proto::health as hpb;
use super::proto::plugin as ppb;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// A stream that yields nothing and ends when `shutdown` turns true.
fn idle_until<T: Send + 'static>(mut shutdown: watch::Receiver<bool>) -> BoxStream<T> {
    futures::stream::once(async move {
        let _ = shutdown.wait_for(|v| *v).await;
    })
    .filter_map(|_| async { None })
    .boxed()
}

/// `grpc.health.v1.Health`.
pub(crate) struct Health;

#[tonic::async_trait]
impl hpb::health_server::Health for Health {
    async fn check(
        &self,
        _r: Request<hpb::HealthCheckRequest>,
    ) -> Result<Response<hpb::HealthCheckResponse>, Status> {
        Ok(Response::new(hpb::HealthCheckResponse {
            status: hpb::health_check_response::ServingStatus::Serving as i32,
        }))
    }

    type WatchStream = BoxStream<hpb::HealthCheckResponse>;

    async fn watch(
        &self,
        _r: Request<hpb::HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let serving = hpb::HealthCheckResponse {
            status: hpb::health_check_response::ServingStatus::Serving as i32,
        };
        Ok(Response::new(
            futures::stream::once(async move { Ok(serving) }).boxed(),
        ))
    }
}

/// `plugin.GRPCController`: Shutdown flips the shutdown signal.
pub(crate) struct Controller(pub(crate) watch::Sender<bool>);

#[tonic::async_trait]
impl ppb::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _r: Request<ppb::Empty>) -> Result<Response<ppb::Empty>, Status> {
        tracing::debug!("shutdown requested by the client");
        let _ = self.0.send(true);
        Ok(Response::new(ppb::Empty {}))
    }
}

/// `plugin.GRPCStdio`: the provider writes nothing to stdout after the handshake, so the stream idles.
pub(crate) struct Stdio(pub(crate) watch::Receiver<bool>);

#[tonic::async_trait]
impl ppb::grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = BoxStream<ppb::StdioData>;

    async fn stream_stdio(
        &self,
        _r: Request<ppb::Empty>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(idle_until(self.0.clone())))
    }
}

/// `plugin.GRPCBroker`: no sub-plugins are brokered, so the stream idles.
pub(crate) struct Broker(pub(crate) watch::Receiver<bool>);

#[tonic::async_trait]
impl ppb::grpc_broker_server::GrpcBroker for Broker {
    type StartStreamStream = BoxStream<ppb::ConnInfo>;

    async fn start_stream(
        &self,
        _r: Request<Streaming<ppb::ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        Ok(Response::new(idle_until(self.0.clone())))
    }
}
