//! Empty instances of Python classes, made without a Python-level call.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyType;

/// Makes empty instances of a Python class the way `object.__new__(cls)` does (its
/// `tp_alloc`: zeroed slots, tracked by the GC), without a Python-level call.
pub struct Alloc<'py> {
    cls: Bound<'py, PyType>,
    alloc: Option<ffi::allocfunc>,
}

impl<'py> Alloc<'py> {
    pub fn new(cls: Bound<'py, PyType>) -> Self {
        // SAFETY: `cls` is a live type object; Py_tp_alloc is readable from any heap type
        // (our classes are Python classes), and NULL otherwise, when we fall back.
        let slot = unsafe { ffi::PyType_GetSlot(cls.as_type_ptr(), ffi::Py_tp_alloc) };
        let alloc = (!slot.is_null()).then(|| {
            // SAFETY: the slot holds an `allocfunc`, per the type slot's definition.
            unsafe { std::mem::transmute::<*mut std::ffi::c_void, ffi::allocfunc>(slot) }
        });
        Alloc { cls, alloc }
    }

    pub fn py(&self) -> Python<'py> {
        self.cls.py()
    }

    pub fn make(&self) -> PyResult<Bound<'py, PyAny>> {
        let py = self.cls.py();
        match self.alloc {
            // SAFETY: calling the type's own allocator with the type; it returns a new
            // reference or NULL with an exception set.
            Some(alloc) => unsafe {
                Bound::from_owned_ptr_or_err(py, alloc(self.cls.as_type_ptr(), 0))
            },
            None => py
                .get_type::<pyo3::types::PyAny>()
                .call_method1("__new__", (&self.cls,)),
        }
    }
}
