/* Optional C versions of the per-event hot paths (see docs/performance.md).
 *
 * evaluation_record(hook_context, details): the capture record, on the caller's thread,
 *     identical to openfeature_s3_export._capture.py_evaluation_record.
 * Submit(...)(item): the engine's hand-off of one item to its worker, on the caller's thread,
 *     step for step as Engine.submit_python writes it.
 * FinallyAfter(intake)(hook_context, details, hints): ExportHook.finally_after, on the caller's
 *     thread, step for step as hook.py writes it.
 * LineJoiner(...)(record): an evaluation's encoded line from the line parts RowBuilder keeps
 *     per flag outcome, on the worker thread, identical to RowBuilder.encode_python.
 *
 * Each takes only the common case and hands anything else to the Python code it mirrors, so
 * the Python modules stay the one definition of the behaviour; tests/test_speedups.py checks
 * that both paths give the same results, value for value and byte for byte.  Nothing here
 * knows OpenFeature beyond the attribute and argument names the capture reads.
 */
#include "speedups.h"

#define DEFINE_STRING(name) PyObject *str_##name;
SPEEDUPS_STRINGS(DEFINE_STRING)
#undef DEFINE_STRING
PyObject *evaluation_kind, *snapshot_fn, *snapshot_attrs_fn;

/* -- module -------------------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"evaluation_record", (PyCFunction)(void (*)(void))evaluation_record, METH_FASTCALL,
     "evaluation_record(hook_context, details): the capture record (see _capture.py)."},
    {"bind", capture_bind, METH_VARARGS,
     "bind(snapshot, snapshot_attributes): the Python copies the capture falls back to."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_speedups", "Optional C versions of the per-event hot paths.", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
#define INTERN(name)                                          \
    if ((str_##name = PyUnicode_InternFromString(#name)) == NULL) \
        return NULL;
    SPEEDUPS_STRINGS(INTERN)
#undef INTERN
    if ((evaluation_kind = PyLong_FromLong(0)) == NULL)
        return NULL;
    if (PyType_Ready(&LineJoinerType) < 0 || PyType_Ready(&FinallyAfterType) < 0
        || PyType_Ready(&SubmitType) < 0 || PyType_Ready(&ReturnsType) < 0
        || PyType_Ready(&RecordType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "LineJoiner", (PyObject *)&LineJoinerType) < 0 ||
        PyModule_AddObjectRef(module, "FinallyAfter", (PyObject *)&FinallyAfterType) < 0 ||
        PyModule_AddObjectRef(module, "Submit", (PyObject *)&SubmitType) < 0 ||
        PyModule_AddObjectRef(module, "Returns", (PyObject *)&ReturnsType) < 0 ||
        PyModule_AddObjectRef(module, "Record", (PyObject *)&RecordType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
