//! The proxy-wasm host calls this filter makes, declared here rather than taken from the SDK, and
//! the [`Host`] seam the root context is written against.
//!
//! The SDK's wrappers (`proxy_wasm::hostcalls`, and the trait methods over them) `panic!` on any
//! status they did not expect, and a panic aborts the VM for every request after it. These
//! wrappers return the host's status instead, so every caller decides what a failure means.
//! They also hand back header maps as the host serialised them, so the request path can borrow
//! names and values in place (see `pairs`) instead of allocating a `String` per header.
//!
//! The imports are declared once, for every target, as the SDK declares its own: a native build
//! (clippy, unit tests) links only what it calls, and the unit tests call none of them. They drive
//! the root context through [`Host`] with the fake in `fake.rs`; [`Envoy`] is the real host.
//!
//! The only SDK host call left in the filter is `dispatch_http_call` (in [`Envoy`]), because the
//! SDK must register the call to route its answer back to the root context.

#![allow(unsafe_code)]

use core::ptr::{null, null_mut};

/// A host status other than `Ok` (the proxy-wasm `WasmResult`): 1 not found, 2 bad argument,
/// 8 CAS mismatch, 10 internal failure, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(pub u32);

pub const NOT_FOUND: Status = Status(1);
pub const CAS_MISMATCH: Status = Status(8);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
#[allow(dead_code)] // the whole ABI enum, whether or not each level is used
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
/// Which header map (proxy-wasm `MapType`).
pub enum Map {
    Request = 0,
    Response = 2,
    CallResponse = 6,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Buffer {
    CallResponseBody = 4,
    PluginConfiguration = 7,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MetricKind {
    Counter = 0,
    Gauge = 1,
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_log_level(return_level: *mut u32) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_buffer_data: *mut *mut u8,
        return_buffer_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> u32;
    fn proxy_add_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
    fn proxy_set_property(
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
}

fn check(status: u32) -> Result<(), Status> {
    if status == 0 {
        Ok(())
    } else {
        Err(Status(status))
    }
}

/// Takes ownership of memory the host allocated in this VM through the SDK's
/// `proxy_on_memory_allocate`, which hands out `Box<[u8]>` of exactly `size` bytes.
///
/// # Safety
/// `data` is null or was returned by the host for exactly `size` bytes.
unsafe fn owned(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        Vec::new()
    } else {
        Vec::from_raw_parts(data, size, size)
    }
}

pub fn log(level: LogLevel, message: &str) {
    // A log that cannot be written is not worth failing a request over.
    let _ = unsafe { proxy_log(level as u32, message.as_ptr(), message.len()) };
}

/// Whether Envoy would print a line at `level` (its `wasm` logger's level), so that a line
/// nobody reads is never formatted.
pub fn log_enabled(level: LogLevel) -> bool {
    let mut current: u32 = 0;
    match check(unsafe { proxy_get_log_level(&mut current) }) {
        Ok(()) => current <= level as u32,
        Err(_) => true,
    }
}

/// Unix seconds by the host's clock.
pub fn now_unix_seconds() -> Result<i64, Status> {
    now_nanos().map(|nanos| i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX))
}

/// Unix nanoseconds by the host's clock.
pub fn now_nanos() -> Result<u64, Status> {
    let mut nanos: u64 = 0;
    check(unsafe { proxy_get_current_time_nanoseconds(&mut nanos) })?;
    Ok(nanos)
}

pub fn set_tick_period_ms(period: u32) -> Result<(), Status> {
    check(unsafe { proxy_set_tick_period_milliseconds(period) })
}

/// The whole buffer (an empty one when the host has none).
pub fn buffer(which: Buffer, max_size: usize) -> Result<Vec<u8>, Status> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    match check(unsafe { proxy_get_buffer_bytes(which as u32, 0, max_size, &mut data, &mut size) })
    {
        Ok(()) => Ok(unsafe { owned(data, size) }),
        Err(NOT_FOUND) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// A header map in the host's serialised form; read it with [`crate::pairs::Pairs`].
pub fn header_map(which: Map) -> Result<Vec<u8>, Status> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    check(unsafe { proxy_get_header_map_pairs(which as u32, &mut data, &mut size) })?;
    Ok(unsafe { owned(data, size) })
}

pub fn add_header(which: Map, name: &str, value: &str) -> Result<(), Status> {
    check(unsafe {
        proxy_add_header_map_value(
            which as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Sets `name` to `value`, replacing every value it had.
pub fn set_header(which: Map, name: &str, value: &str) -> Result<(), Status> {
    check(unsafe {
        proxy_replace_header_map_value(
            which as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

pub fn remove_header(which: Map, name: &str) -> Result<(), Status> {
    check(unsafe { proxy_remove_header_map_value(which as u32, name.as_ptr(), name.len()) })
}

/// Answers the request locally; `headers` is a serialised map (see `pairs::serialize`).
/// `details` shows in Envoy's access log as `%RESPONSE_CODE_DETAILS%`.
pub fn send_local_response(
    status: u16,
    details: &str,
    headers: &[u8],
    body: &[u8],
) -> Result<(), Status> {
    check(unsafe {
        proxy_send_local_response(
            u32::from(status),
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            -1,
        )
    })
}

/// The value under `key` and its CAS token; `(None, 0)` when the key is absent.
pub fn shared_get(key: &str) -> Result<(Option<Vec<u8>>, u32), Status> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    let mut cas: u32 = 0;
    match check(unsafe {
        proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas)
    }) {
        Ok(()) => Ok((Some(unsafe { owned(data, size) }), cas)),
        Err(NOT_FOUND) => Ok((None, 0)),
        Err(e) => Err(e),
    }
}

/// Stores `value` under `key` if its CAS token is still `cas` (0: unconditionally).
pub fn shared_set(key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
    let data = if value.is_empty() {
        null()
    } else {
        value.as_ptr()
    };
    check(unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), data, value.len(), cas) })
}

pub fn define_metric(kind: MetricKind, name: &str) -> Result<u32, Status> {
    let mut id: u32 = 0;
    check(unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn increment_metric(id: u32, by: i64) -> Result<(), Status> {
    check(unsafe { proxy_increment_metric(id, by) })
}

pub fn record_metric(id: u32, value: u64) -> Result<(), Status> {
    check(unsafe { proxy_record_metric(id, value) })
}

/// Sets a property of the current request. Envoy keeps it in the request's filter state under
/// `wasm.<path>` (a one-segment path is sent as is), where access logs read it with
/// `%FILTER_STATE(wasm.<path>:PLAIN)%`.
pub fn set_property(path: &str, value: &[u8]) -> Result<(), Status> {
    check(unsafe { proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) })
}

/// What the root context and the metrics need from the host: the real imports in [`Envoy`], a
/// recording fake in the unit tests. Failures are statuses, never panics, as above.
pub trait Host {
    fn log(&self, level: LogLevel, message: &str);
    /// Unix nanoseconds by the host's clock.
    fn now_nanos(&self) -> Result<u64, Status>;
    fn set_tick_period_ms(&self, period: u32) -> Result<(), Status>;
    fn buffer(&self, which: Buffer, max_size: usize) -> Result<Vec<u8>, Status>;
    fn header_map(&self, which: Map) -> Result<Vec<u8>, Status>;
    fn shared_get(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), Status>;
    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), Status>;
    /// Starts an HTTP call to `cluster`; its answer comes to the root's `on_http_call_response`
    /// with the token returned here.
    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Result<u32, Status>;
    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, Status>;
    fn increment_metric(&self, id: u32, by: i64) -> Result<(), Status>;
    fn record_metric(&self, id: u32, value: u64) -> Result<(), Status>;

    /// Unix seconds by the host's clock; 0 when it cannot be read.
    fn now_seconds(&self) -> i64 {
        self.now_nanos()
            .map_or(0, |n| i64::try_from(n / 1_000_000_000).unwrap_or(i64::MAX))
    }
}

/// The host this filter runs in: every call is one of the imports above.
#[derive(Clone, Copy, Default)]
pub struct Envoy;

impl Host for Envoy {
    fn log(&self, level: LogLevel, message: &str) {
        log(level, message);
    }
    fn now_nanos(&self) -> Result<u64, Status> {
        now_nanos()
    }
    fn set_tick_period_ms(&self, period: u32) -> Result<(), Status> {
        set_tick_period_ms(period)
    }
    fn buffer(&self, which: Buffer, max_size: usize) -> Result<Vec<u8>, Status> {
        buffer(which, max_size)
    }
    fn header_map(&self, which: Map) -> Result<Vec<u8>, Status> {
        header_map(which)
    }
    fn shared_get(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), Status> {
        shared_get(key)
    }
    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
        shared_set(key, value, cas)
    }
    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Result<u32, Status> {
        // The SDK's call: it registers the token so that the answer is routed to this root. It
        // panics only on statuses Envoy's http_call does not return (it returns Ok, BadArgument
        // or InternalFailure).
        proxy_wasm::hostcalls::dispatch_http_call(
            cluster,
            headers.to_vec(),
            None,
            vec![],
            core::time::Duration::from_millis(timeout_ms),
        )
        .map_err(|s| Status(s as u32))
    }
    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, Status> {
        define_metric(kind, name)
    }
    fn increment_metric(&self, id: u32, by: i64) -> Result<(), Status> {
        increment_metric(id, by)
    }
    fn record_metric(&self, id: u32, value: u64) -> Result<(), Status> {
        record_metric(id, value)
    }
}
