//! The one place with `unsafe`: Envoy 1.40's dynamic-module C ABI (`sys`), the hooks Envoy calls
//! (`exports`, each inside one panic boundary), and the safe wrappers the filter uses (here).
//!
//! Pointers from Envoy are only ever handed back to Envoy; bytes from Envoy are viewed as
//! slices whose lifetime is tied to a borrow of the wrapper, so no view outlives the hook that
//! produced it or survives an edit of the header map it points into.
#![allow(unsafe_code)]

mod exports;
pub mod sys;

use crate::host::{ConfigHost, LogLevel, Map, MetricId, Stream};
use sys::{EnvoyBuffer, EnvoyPair, EnvoyPtr, ModuleBuffer, ModulePair};

/// What `envoy_dynamic_module_on_program_init` returns: the ABI version this module was written
/// against. Envoy 1.40 logs `Dynamic module ABI version v0.2.0 matched.` for it.
pub const ABI_VERSION: &core::ffi::CStr = c"v0.2.0";

pub fn log(level: LogLevel, message: &str) {
    // SAFETY: the buffer borrows `message` for the call; Envoy copies it into its log line.
    unsafe {
        sys::envoy_dynamic_module_callback_log(level as i32, ModuleBuffer::new(message.as_bytes()))
    }
}

pub fn log_enabled(level: LogLevel) -> bool {
    // SAFETY: a plain value in, a bool out.
    unsafe { sys::envoy_dynamic_module_callback_log_enabled(level as i32) }
}

/// Bytes Envoy owns, as a slice that lives no longer than `'a`.
///
/// # Safety
/// `ptr` must be null or point to `len` readable bytes that stay unchanged for `'a`.
unsafe fn envoy_bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: the caller's contract, checked for null above.
    unsafe { core::slice::from_raw_parts(ptr, len) }
}

fn map_type(map: Map) -> i32 {
    match map {
        Map::Request => sys::HEADER_REQUEST,
        Map::Response => sys::HEADER_RESPONSE,
    }
}

/// One HTTP stream during one hook (`envoy_dynamic_module_type_http_filter_envoy_ptr`).
pub struct EnvoyStream {
    ptr: EnvoyPtr,
}

impl Stream for EnvoyStream {
    fn request_headers(&self) -> Vec<(&[u8], &[u8])> {
        // SAFETY: `ptr` is the stream Envoy passed to the running hook.
        let n = unsafe {
            sys::envoy_dynamic_module_callback_http_get_headers_size(self.ptr, sys::HEADER_REQUEST)
        };
        let mut raw = vec![EnvoyPair::EMPTY; n];
        // SAFETY: `raw` has room for the `n` headers Envoy just counted, and nothing runs on this
        // stream in between.
        let ok = unsafe {
            sys::envoy_dynamic_module_callback_http_get_headers(
                self.ptr,
                sys::HEADER_REQUEST,
                raw.as_mut_ptr(),
            )
        };
        if !ok {
            return Vec::new();
        }
        raw.iter()
            .map(|h| {
                // SAFETY: Envoy filled each pair with views into its header map, valid until the
                // hook returns or the map changes; both need `&mut self` or the end of the hook,
                // so they cannot happen while these slices, which borrow `&self`, are alive.
                unsafe {
                    (
                        envoy_bytes(h.key_ptr, h.key_len),
                        envoy_bytes(h.value_ptr, h.value_len),
                    )
                }
            })
            .collect()
    }

    fn set_header(&mut self, map: Map, name: &str, value: &str) -> bool {
        // SAFETY: both buffers borrow live strings for the call; Envoy copies them.
        unsafe {
            sys::envoy_dynamic_module_callback_http_set_header(
                self.ptr,
                map_type(map),
                ModuleBuffer::new(name.as_bytes()),
                ModuleBuffer::new(value.as_bytes()),
            )
        }
    }

    fn add_header(&mut self, map: Map, name: &str, value: &str) -> bool {
        // SAFETY: as in `set_header`.
        unsafe {
            sys::envoy_dynamic_module_callback_http_add_header(
                self.ptr,
                map_type(map),
                ModuleBuffer::new(name.as_bytes()),
                ModuleBuffer::new(value.as_bytes()),
            )
        }
    }

    fn remove_header(&mut self, map: Map, name: &str) -> bool {
        // SAFETY: a null value buffer asks Envoy 1.40 to remove the header (it has no separate
        // remove callback); the name borrows a live string for the call.
        unsafe {
            sys::envoy_dynamic_module_callback_http_set_header(
                self.ptr,
                map_type(map),
                ModuleBuffer::new(name.as_bytes()),
                ModuleBuffer::null(),
            )
        }
    }

    fn send_response(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8], details: &str) {
        let pairs: Vec<ModulePair<'_>> = headers
            .iter()
            .map(|(n, v)| ModulePair::new(n.as_bytes(), v.as_bytes()))
            .collect();
        // SAFETY: `pairs`, `body` and `details` outlive the call; Envoy copies them into the reply.
        unsafe {
            sys::envoy_dynamic_module_callback_http_send_response(
                self.ptr,
                u32::from(status),
                pairs.as_ptr(),
                pairs.len(),
                ModuleBuffer::new(body),
                ModuleBuffer::new(details.as_bytes()),
            )
        }
    }

    fn set_metadata(&mut self, namespace: &str, entries: &[(&str, &str)]) {
        let pairs: Vec<ModulePair<'_>> = entries
            .iter()
            .map(|(k, v)| ModulePair::new(k.as_bytes(), v.as_bytes()))
            .collect();
        // SAFETY: as in `send_response`; Envoy copies the entries into the stream's metadata.
        unsafe {
            sys::envoy_dynamic_module_callback_http_set_dynamic_metadata_string_batch(
                self.ptr,
                ModuleBuffer::new(namespace.as_bytes()),
                pairs.as_ptr(),
                pairs.len(),
            )
        }
    }

    fn increment(&mut self, id: MetricId) {
        if let MetricId(Some(id)) = id {
            // SAFETY: `id` was defined on the configuration this stream was created from; no labels.
            let _ = unsafe {
                sys::envoy_dynamic_module_callback_http_filter_increment_counter(
                    self.ptr,
                    id,
                    core::ptr::null(),
                    0,
                    1,
                )
            };
        }
    }
}

/// The filter configuration (`envoy_dynamic_module_type_http_filter_config_envoy_ptr`), used on
/// Envoy's main thread only: in `config_new` and the configuration's own hooks.
pub struct EnvoyConfig {
    ptr: EnvoyPtr,
}

impl EnvoyConfig {
    fn define(&mut self, name: &str, gauge: bool) -> MetricId {
        let mut id = 0usize;
        let buf = ModuleBuffer::new(name.as_bytes());
        // SAFETY: `ptr` is the configuration being created (metrics may only be defined then);
        // no labels; `id` is a valid out-pointer for the call.
        let r = unsafe {
            if gauge {
                sys::envoy_dynamic_module_callback_http_filter_config_define_gauge(
                    self.ptr,
                    buf,
                    core::ptr::null(),
                    0,
                    &mut id,
                )
            } else {
                sys::envoy_dynamic_module_callback_http_filter_config_define_counter(
                    self.ptr,
                    buf,
                    core::ptr::null(),
                    0,
                    &mut id,
                )
            }
        };
        if r == sys::METRICS_SUCCESS {
            MetricId(Some(id))
        } else {
            log(
                LogLevel::Warn,
                &format!("could not define metric {name}: result {r}"),
            );
            MetricId(None)
        }
    }
}

impl ConfigHost for EnvoyConfig {
    fn define_counter(&mut self, name: &str) -> MetricId {
        self.define(name, false)
    }

    fn define_gauge(&mut self, name: &str) -> MetricId {
        self.define(name, true)
    }

    fn increment(&mut self, id: MetricId) {
        if let MetricId(Some(id)) = id {
            // SAFETY: `id` was defined on this configuration; no labels.
            let _ = unsafe {
                sys::envoy_dynamic_module_callback_http_filter_config_increment_counter(
                    self.ptr,
                    id,
                    core::ptr::null(),
                    0,
                    1,
                )
            };
        }
    }

    fn set_gauge(&mut self, id: MetricId, value: u64) {
        if let MetricId(Some(id)) = id {
            // SAFETY: as in `increment`.
            let _ = unsafe {
                sys::envoy_dynamic_module_callback_http_filter_config_set_gauge(
                    self.ptr,
                    id,
                    core::ptr::null(),
                    0,
                    value,
                )
            };
        }
    }

    fn callout(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Result<u64, i32> {
        let pairs: Vec<ModulePair<'_>> = headers
            .iter()
            .map(|(n, v)| ModulePair::new(n.as_bytes(), v.as_bytes()))
            .collect();
        let mut id = 0u64;
        // SAFETY: every buffer outlives the call (Envoy copies the request); `id` is a valid
        // out-pointer; this runs on the main thread, in a hook of this configuration.
        let r = unsafe {
            sys::envoy_dynamic_module_callback_http_filter_config_http_callout(
                self.ptr,
                &mut id,
                ModuleBuffer::new(cluster.as_bytes()),
                pairs.as_ptr(),
                pairs.len(),
                ModuleBuffer::new(&[]),
                timeout_ms,
            )
        };
        if r == sys::CALLOUT_INIT_SUCCESS {
            Ok(id)
        } else {
            Err(r)
        }
    }
}

/// A handle that posts events to the configuration's hook on the main thread, from any thread
/// (`envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr`).
pub struct Scheduler {
    ptr: EnvoyPtr,
}

// SAFETY: Envoy documents the scheduler as usable from any thread, including module threads:
// `commit` only posts an event to the main thread's dispatcher.
unsafe impl Send for Scheduler {}
// SAFETY: as above; `commit` takes `&self` and Envoy synchronises the post.
unsafe impl Sync for Scheduler {}

impl Scheduler {
    pub fn commit(&self, event: u64) {
        // SAFETY: `ptr` came from `scheduler_new` and is deleted only in `Drop`, after every
        // thread that commits has been joined (see `config::Ticker`).
        unsafe {
            sys::envoy_dynamic_module_callback_http_filter_config_scheduler_commit(self.ptr, event)
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // SAFETY: created by `scheduler_new`, deleted exactly once, here.
        unsafe { sys::envoy_dynamic_module_callback_http_filter_config_scheduler_delete(self.ptr) }
    }
}

/// An HTTP callout's answer, as views into Envoy's buffers for the duration of the hook.
pub struct CalloutAnswer<'a> {
    pub success: bool,
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    pub body: Vec<&'a [u8]>,
}

/// # Safety
/// The pointers are the ones Envoy passed to a callout-done hook, which is still running.
unsafe fn callout_answer<'a>(
    result: i32,
    headers: *const EnvoyPair,
    headers_len: usize,
    chunks: *const EnvoyBuffer,
    chunks_len: usize,
) -> CalloutAnswer<'a> {
    let pairs: &[EnvoyPair] = if headers.is_null() {
        &[]
    } else {
        // SAFETY: Envoy passes `headers_len` pairs, valid until the hook returns.
        unsafe { core::slice::from_raw_parts(headers, headers_len) }
    };
    let bufs: &[EnvoyBuffer] = if chunks.is_null() {
        &[]
    } else {
        // SAFETY: as above, for the body chunks.
        unsafe { core::slice::from_raw_parts(chunks, chunks_len) }
    };
    CalloutAnswer {
        success: result == sys::CALLOUT_SUCCESS,
        // SAFETY: each view points into the answer, valid until the hook returns.
        headers: pairs
            .iter()
            .map(|h| unsafe {
                (
                    envoy_bytes(h.key_ptr, h.key_len),
                    envoy_bytes(h.value_ptr, h.value_len),
                )
            })
            .collect(),
        // SAFETY: as above.
        body: bufs
            .iter()
            .map(|b| unsafe { envoy_bytes(b.ptr, b.len) })
            .collect(),
    }
}
