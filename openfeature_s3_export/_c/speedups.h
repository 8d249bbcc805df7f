/* What the C files of the optional extension share (see module.c for the overview). */
#ifndef OPENFEATURE_S3_EXPORT_SPEEDUPS_H
#define OPENFEATURE_S3_EXPORT_SPEEDUPS_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

/* What the files share stays inside the extension: a global named like a libc function (bind)
 * would otherwise be bound to that function by the dynamic linker. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* Interned attribute, argument and key names, made once at import: str_<name> is "<name>". */
#define SPEEDUPS_STRINGS(X) \
    X(value) \
    X(default_value) \
    X(evaluation_context) \
    X(attributes) \
    X(provider_metadata) \
    X(client_metadata) \
    X(targeting_key) \
    X(flag_key) \
    X(flag_type) \
    X(variant) \
    X(reason) \
    X(error_code) \
    X(error_message) \
    X(flag_metadata) \
    X(name) \
    X(domain) \
    X(hook_context) \
    X(details) \
    X(hints) \
    X(last_evaluation) \
    X(submit) \
    X(duplicate_hook) \
    X(capture_failed) \
    X(_queue) \
    X(_max_queue) \
    X(_wake_at) \
    X(append) \
    X(kind) \
    X(ms) \
    X(at) \
    X(id_prefix) \
    X(time_prefix)
#define DECLARE_STRING(name) extern PyObject *str_##name;
SPEEDUPS_STRINGS(DECLARE_STRING)
#undef DECLARE_STRING

extern PyObject *evaluation_kind;   /* the int 0: capture.EVALUATION */
extern PyObject *snapshot_fn;       /* _snapshot.snapshot */
extern PyObject *snapshot_attrs_fn; /* _snapshot.snapshot_attributes */

/* tp_traverse, tp_clear and tp_dealloc for a type whose references are the consecutive object
 * pointers from member *first* to member *last*: prefix_traverse, prefix_clear, prefix_dealloc. */
#define REFERENCES_GC(prefix, Type, first, last)                                                   \
    static int prefix##_traverse(Type *self, visitproc visit, void *arg)                           \
    {                                                                                              \
        for (PyObject **p = (PyObject **)&self->first; p <= (PyObject **)&self->last; p++)        \
            Py_VISIT(*p);                                                                          \
        return 0;                                                                                  \
    }                                                                                              \
    static int prefix##_clear(Type *self)                                                          \
    {                                                                                              \
        for (PyObject **p = (PyObject **)&self->first; p <= (PyObject **)&self->last; p++)        \
            Py_CLEAR(*p);                                                                          \
        return 0;                                                                                  \
    }                                                                                              \
    static void prefix##_dealloc(Type *self)                                                       \
    {                                                                                              \
        PyObject_GC_UnTrack(self);                                                                 \
        prefix##_clear(self);                                                                      \
        Py_TYPE(self)->tp_free((PyObject *)self);                                                  \
    }

/* The slots every such type of ours fills the same way (in its PyTypeObject initialiser). */
#define REFERENCES_GC_SLOTS(prefix, Type)                \
    .tp_basicsize = sizeof(Type),                        \
    .tp_new = PyType_GenericNew,                         \
    .tp_init = (initproc)prefix##_init,                  \
    .tp_traverse = (traverseproc)prefix##_traverse,      \
    .tp_clear = (inquiry)prefix##_clear,                 \
    .tp_dealloc = (destructor)prefix##_dealloc

/* The capture record's fields, by index (_capture.py). */
enum {
    R_KIND, R_TIME_NS, R_ATTRIBUTES, R_TARGETING_KEY, R_FLAG_KEY, R_FLAG_TYPE, R_DEFAULT, R_VALUE,
    R_VARIANT, R_REASON, R_ERROR_CODE, R_ERROR_MESSAGE, R_METADATA, R_PROVIDER, R_DOMAIN,
    R_SIZE
};

/* record.c: a capture record in one allocation.  fields[R_TIME_NS] stays NULL (time_ns holds
 * it); fields[R_ATTRIBUTES] is None, the snapshot of attributes that are not a plain dict of
 * JSON scalars, or NULL when the Py_SIZE(record) key/value pairs hold them. */
typedef struct {
    PyObject_VAR_HEAD
    long long time_ns;
    PyObject *fields[R_SIZE];
    PyObject *pairs[1]; /* 2 * Py_SIZE(record): key, value, key, value... */
} Record;
Record *record_new(Py_ssize_t pairs);
PyObject *record_attributes(Record *record); /* a new reference: the attributes as Python has them */

/* capture.c */
PyObject *make_record(PyObject *hook_context, PyObject *details, PyObject *client);
PyObject *evaluation_record(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *capture_bind(PyObject *module, PyObject *args);

/* stage.c, joiner.c */
extern PyTypeObject RecordType, SubmitType, FinallyAfterType, ReturnsType, LineJoinerType;

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
