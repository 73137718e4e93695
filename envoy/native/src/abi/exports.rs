//! The hooks Envoy calls (`envoy_dynamic_module_on_*`). Each body runs inside [`boundary`]: a
//! panic never unwinds into Envoy (since Rust 1.81 that aborts the process); it is logged through
//! Envoy at critical level and the hook returns a safe default — `request_headers` first answers
//! the stream `500 internal`.

use core::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::sys::{self, EnvoyBuffer, EnvoyPair, EnvoyPtr, ModulePtr};
use super::{callout_answer, envoy_bytes, log, EnvoyConfig, EnvoyStream, Scheduler};
use crate::config::{Config, Ticker, TICK};
use crate::filter::{internal_error, Filter, Flow};
use crate::host::LogLevel;

/// Runs `body`; on a panic logs it and returns `fallback`.
fn boundary<T>(hook: &str, fallback: impl FnOnce() -> T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            // Catch a panic in the fallback too: nothing may unwind from here.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                log(LogLevel::Critical, &format!("panic in {hook}: {what}"))
            }));
            catch_unwind(AssertUnwindSafe(fallback)).unwrap_or_else(|_| std::process::abort())
        }
    }
}

/// The module pointer Envoy hands back, as the filter it came from.
///
/// # Safety
/// `ptr` is null or came from `on_http_filter_new` and has not been destroyed.
unsafe fn filter<'a>(ptr: ModulePtr) -> Option<&'a mut Filter> {
    // SAFETY: the caller's contract; Envoy calls a stream's hooks one at a time on its worker.
    unsafe { (ptr as *mut Filter).as_mut() }
}

/// # Safety
/// `ptr` is null or came from `on_http_filter_config_new` and has not been destroyed.
unsafe fn config<'a>(ptr: ModulePtr) -> Option<&'a Config> {
    // SAFETY: the caller's contract; `Config` is `Sync`, so a shared view from any thread is fine.
    unsafe { (ptr as *const Config).as_ref() }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    boundary("program_init", core::ptr::null, || {
        super::ABI_VERSION.as_ptr()
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    config_envoy: EnvoyPtr,
    _name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> ModulePtr {
    boundary("config_new", core::ptr::null, || {
        // SAFETY: the configuration's bytes, valid for this hook.
        let bytes = unsafe { envoy_bytes(config.ptr, config.len) };
        let mut host = EnvoyConfig { ptr: config_envoy };
        let ticker = || {
            // SAFETY: `config_envoy` is the configuration being created; the scheduler it makes is
            // deleted by `Scheduler::drop` once the ticker thread has ended.
            let ptr = unsafe {
                sys::envoy_dynamic_module_callback_http_filter_config_scheduler_new(config_envoy)
            };
            if ptr.is_null() {
                log(LogLevel::Error, "no scheduler: the registry will not load");
                return None;
            }
            Ticker::start(Arc::new(Scheduler { ptr }), TICK, |s| s.commit(0))
        };
        match Config::new(&mut host, bytes, ticker) {
            Some(c) => Box::into_raw(Box::new(c)) as ModulePtr,
            None => core::ptr::null(),
        }
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(config: ModulePtr) {
    boundary(
        "config_destroy",
        || (),
        || {
            if !config.is_null() {
                // SAFETY: made by `Box::into_raw` in `config_new`; Envoy destroys it once.
                drop(unsafe { Box::from_raw(config as *mut Config) });
            }
        },
    )
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_scheduled(
    config_envoy: EnvoyPtr,
    cfg: ModulePtr,
    _event: u64,
) {
    boundary(
        "config_scheduled",
        || (),
        || {
            // SAFETY: Envoy passes back the pointer `config_new` returned.
            if let Some(c) = unsafe { config(cfg) } {
                c.on_tick(&mut EnvoyConfig { ptr: config_envoy });
            }
        },
    )
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_http_callout_done(
    config_envoy: EnvoyPtr,
    cfg: ModulePtr,
    callout_id: u64,
    result: i32,
    headers: *const EnvoyPair,
    headers_len: usize,
    chunks: *const EnvoyBuffer,
    chunks_len: usize,
) {
    boundary(
        "config_http_callout_done",
        || (),
        || {
            // SAFETY: Envoy passes back the pointer `config_new` returned.
            let Some(c) = (unsafe { config(cfg) }) else {
                return;
            };
            // SAFETY: the answer's buffers, valid until this hook returns.
            let answer =
                unsafe { callout_answer(result, headers, headers_len, chunks, chunks_len) };
            c.on_fetched(
                &mut EnvoyConfig { ptr: config_envoy },
                callout_id,
                answer.success,
                &answer.headers,
                &answer.body,
            );
        },
    )
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    cfg: ModulePtr,
    _filter_envoy: EnvoyPtr,
) -> ModulePtr {
    boundary("filter_new", core::ptr::null, || {
        // SAFETY: Envoy passes back the pointer `config_new` returned; it outlives its streams.
        match unsafe { config(cfg) } {
            Some(c) => Box::into_raw(Box::new(Filter::new(Arc::clone(&c.shared)))) as ModulePtr,
            None => core::ptr::null(),
        }
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(f: ModulePtr) {
    boundary(
        "filter_destroy",
        || (),
        || {
            if !f.is_null() {
                // SAFETY: made by `Box::into_raw` in `filter_new`; Envoy destroys it once.
                drop(unsafe { Box::from_raw(f as *mut Filter) });
            }
        },
    )
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    fe: EnvoyPtr,
    fm: ModulePtr,
    _end: bool,
) -> u32 {
    // SAFETY: Envoy passes back the pointer `filter_new` returned, for this stream.
    let Some(f) = (unsafe { filter(fm) }) else {
        return sys::STATUS_STOP_ITERATION;
    };
    let mut stream = EnvoyStream { ptr: fe };
    let flow = boundary(
        "request_headers",
        || Flow::Stop,
        || f.on_request_headers(&mut stream),
    );
    // After a panic the filter may be half-updated, but `replied` is a plain flag: still true if
    // a reply went out. Answer the stream if nothing did.
    let flow = if flow == Flow::Stop && !f.replied {
        boundary(
            "request_headers",
            || Flow::Stop,
            || internal_error(&mut stream, &mut f.replied, "a panic in the filter"),
        )
    } else {
        flow
    };
    match flow {
        Flow::Continue => sys::STATUS_CONTINUE,
        Flow::Stop => sys::STATUS_STOP_ITERATION,
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    fe: EnvoyPtr,
    fm: ModulePtr,
    _end: bool,
) -> u32 {
    boundary(
        "response_headers",
        || sys::STATUS_CONTINUE,
        || {
            // SAFETY: as in `request_headers`.
            if let Some(f) = unsafe { filter(fm) } {
                f.on_response_headers(&mut EnvoyStream { ptr: fe });
            }
            sys::STATUS_CONTINUE
        },
    )
}

// The hooks Envoy 1.40 requires of every HTTP-filter module that tokengate has no use for.

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    _fe: EnvoyPtr,
    _fm: ModulePtr,
    _end: bool,
) -> u32 {
    sys::STATUS_CONTINUE
}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
    _fe: EnvoyPtr,
    _fm: ModulePtr,
) -> u32 {
    sys::STATUS_CONTINUE
}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    _fe: EnvoyPtr,
    _fm: ModulePtr,
    _end: bool,
) -> u32 {
    sys::STATUS_CONTINUE
}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
    _fe: EnvoyPtr,
    _fm: ModulePtr,
) -> u32 {
    sys::STATUS_CONTINUE
}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    _fe: EnvoyPtr,
    _fm: ModulePtr,
) {
}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(
    _fe: EnvoyPtr,
    _fm: ModulePtr,
    _event: u64,
) {
}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    _fe: EnvoyPtr,
    _fm: ModulePtr,
    _id: u64,
    _result: i32,
    _headers: *const EnvoyPair,
    _headers_len: usize,
    _chunks: *const EnvoyBuffer,
    _chunks_len: usize,
) {
}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
    _fe: EnvoyPtr,
    _fm: ModulePtr,
    _id: u64,
    _headers: *const EnvoyPair,
    _len: usize,
    _end: bool,
) {
}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
    _fe: EnvoyPtr,
    _fm: ModulePtr,
    _id: u64,
    _data: *const EnvoyBuffer,
    _len: usize,
    _end: bool,
) {
}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
    _fe: EnvoyPtr,
    _fm: ModulePtr,
    _id: u64,
    _trailers: *const EnvoyPair,
    _len: usize,
) {
}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(
    _fe: EnvoyPtr,
    _fm: ModulePtr,
    _id: u64,
) {
}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(
    _fe: EnvoyPtr,
    _fm: ModulePtr,
    _id: u64,
    _reason: i32,
) {
}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
    _fe: EnvoyPtr,
    _fm: ModulePtr,
) {
}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
    _fe: EnvoyPtr,
    _fm: ModulePtr,
) {
}
