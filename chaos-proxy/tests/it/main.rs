//! The fault proxy over real sockets: its API (raw HTTP and the `toxiproxy_rust` client) and what
//! each toxic does to a real TCP echo server's traffic.

mod api;
mod client;
mod data_plane;
mod go_client;
mod no_byte_lost;
mod support;
mod toxiproxy_api;
