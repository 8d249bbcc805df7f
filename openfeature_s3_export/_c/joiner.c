/* The worker's side: an evaluation's encoded line from the parts RowBuilder caches per flag
 * outcome, byte for byte what RowBuilder.encode_python writes. */
#include "speedups.h"

/* -- LineJoiner ----------------------------------------------------------------------------- */

/* The outcome key RowBuilder builds from a record (its layout: speedups.h). */
#define KEY_SIZE 13

typedef struct {
    PyObject_HEAD
    PyObject *lines;          /* dict: flag key -> list of (outcome key, line parts or None) */
    PyObject *fallback;       /* the Python encode, for every case not handled here */
    PyObject *stamps;         /* _ids.Stamps of this builder */
    PyObject *id_counter;     /* _ids.ID_COUNTER */
    PyObject *id_tails;       /* _ids.ID_TAILS (refilled in place after a fork) */
    PyObject *micros;         /* _ids.MICROS */
    PyObject *json_string;    /* orjson.dumps */
    PyObject *metadata_key;   /* _rows._metadata_key */
    PyObject *private_key;    /* privacy.PRIVATE_ATTRIBUTES_KEY */
    PyTypeObject *line_type;  /* _encoding.EncodedLine */
    int filter;               /* the context policy may change a context: 0 none, 1 listed, 2 all */
    vectorcallfunc vectorcall;
} LineJoiner;

static inline int
comparable(PyObject *v)
{
    /* The types RowBuilder compares as they are (_rows._COMPARABLE) */
    PyTypeObject *t = Py_TYPE(v);
    return t == &PyUnicode_Type || t == &PyLong_Type || t == &PyBool_Type || v == Py_None;
}

static PyObject *
slow(LineJoiner *self, PyObject *record)
{
    return PyObject_CallOneArg(self->fallback, record);
}

/* The parts cached for this record's flag outcome: a new reference to a tuple of five bytes,
 * NULL (an error set or not) when the Python path must take the record.  The comparisons may
 * run Python code (an __eq__), so everything read from the cache is held while they run. */
static PyObject *
cached_parts(LineJoiner *self, PyObject *const *r, PyObject *context)
{
    PyObject *value = r[R_VALUE], *deflt = r[R_DEFAULT];
    if (!comparable(value) || !comparable(deflt))
        return NULL;
    PyObject *kind = Py_None;
    if (context != NULL && (kind = PyDict_GetItemWithError(context, str_kind)) == NULL) {
        if (PyErr_Occurred())
            return NULL;
        kind = Py_None;
    }
    PyObject *metadata_key =
        r[R_METADATA] == Py_None ? PyTuple_New(0) : PyObject_CallOneArg(self->metadata_key, r[R_METADATA]);
    if (metadata_key == NULL)
        return NULL;
    PyObject *outcomes = PyDict_GetItemWithError(self->lines, r[R_FLAG_KEY]);
    if (outcomes == NULL || !PyList_CheckExact(outcomes)) {
        Py_DECREF(metadata_key);
        return NULL;
    }
    Py_INCREF(outcomes);
    Py_INCREF(kind);
    PyObject *key[KEY_SIZE] = {
        value, (PyObject *)Py_TYPE(value), r[R_VARIANT], r[R_REASON], r[R_ERROR_CODE], deflt,
        (PyObject *)Py_TYPE(deflt), r[R_FLAG_TYPE], r[R_PROVIDER], r[R_DOMAIN], r[R_ERROR_MESSAGE],
        kind, metadata_key,
    };
    PyObject *found = NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(outcomes) && found == NULL; i++) {
        PyObject *entry = PyList_GET_ITEM(outcomes, i);
        if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2)
            break;
        PyObject *known = PyTuple_GET_ITEM(entry, 0);
        if (!PyTuple_CheckExact(known) || PyTuple_GET_SIZE(known) != KEY_SIZE)
            continue;
        Py_INCREF(entry);
        int same = 1;
        for (int k = 0; k < KEY_SIZE && same > 0; k++)
            /* as tuple ==: the known key's item on the left */
            same = PyObject_RichCompareBool(PyTuple_GET_ITEM(known, k), key[k], Py_EQ);
        if (same > 0)
            found = Py_NewRef(PyTuple_GET_ITEM(entry, 1));
        Py_DECREF(entry);
        if (same < 0)
            break;
    }
    Py_DECREF(outcomes);
    Py_DECREF(kind);
    Py_DECREF(metadata_key);
    if (found == NULL)
        return NULL;
    int usable = PyTuple_CheckExact(found) && PyTuple_GET_SIZE(found) == 5;
    for (int i = 0; usable && i < 5; i++)
        usable = PyBytes_CheckExact(PyTuple_GET_ITEM(found, i));
    if (!usable)
        Py_CLEAR(found); /* None: a line encoded whole */
    return found;
}

/* *text* (JSON text) as a JSON string literal: only '"' and '\\' need escaping, as JSON text
 * has no raw control characters.  New reference. */
static PyObject *
quote_json(PyObject *text)
{
    const char *s = PyBytes_AS_STRING(text);
    Py_ssize_t n = PyBytes_GET_SIZE(text), extra = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        extra += (s[i] == '"' || s[i] == '\\');
    PyObject *out = PyBytes_FromStringAndSize(NULL, n + extra + 2);
    if (out == NULL)
        return NULL;
    char *o = PyBytes_AS_STRING(out);
    *o++ = '"';
    if (extra == 0) {
        memcpy(o, s, n);
        o += n;
    }
    else {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (s[i] == '"' || s[i] == '\\')
                *o++ = '\\';
            *o++ = s[i];
        }
    }
    *o = '"';
    return out;
}

/* A str of printable ASCII other than '"' and '\\' as a JSON string literal (what orjson
 * writes for it); NULL with no error set for any other text, which orjson quotes. */
static PyObject *
quote_plain(PyObject *text)
{
    if (PyUnicode_READY(text) < 0 || !PyUnicode_IS_ASCII(text))
        return NULL;
    const unsigned char *s = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
            return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n + 2);
    if (out == NULL)
        return NULL;
    char *o = PyBytes_AS_STRING(out);
    o[0] = '"';
    memcpy(o + 1, s, n);
    o[n + 1] = '"';
    return out;
}

/* The line of *record*, whose fields are *r* but for its context *attributes* and capture time. */
static PyObject *
join(LineJoiner *self, PyObject *record, PyObject *const *r, PyObject *attributes, long long time_ns)
{
    PyObject *context = NULL;
    if (attributes != Py_None) {
        if (!PyDict_CheckExact(attributes))
            return slow(self, record); /* RichAttributes: the normalising encoder */
        if (PyDict_GET_SIZE(attributes) > 0) {
            if (self->filter == 2)
                return slow(self, record);
            if (self->filter == 1) {
                int listed = PyDict_Contains(attributes, self->private_key);
                if (listed != 0) {
                    if (listed < 0)
                        PyErr_Clear();
                    return slow(self, record);
                }
            }
            context = attributes;
        }
    }
    PyObject *targeting_key = r[R_TARGETING_KEY];
    if (targeting_key != Py_None && !PyUnicode_CheckExact(targeting_key))
        return slow(self, record);
    PyObject *parts = cached_parts(self, r, context);
    if (parts == NULL) {
        PyErr_Clear();
        return slow(self, record);
    }
    PyObject *key_json = NULL, *context_json = NULL, *context_text = NULL, *time_us_obj = NULL,
             *ms_obj = NULL, *id_prefix = NULL, *time_prefix = NULL, *counter = NULL, *data = NULL,
             *line = NULL;
    if (targeting_key == Py_None)
        key_json = PyBytes_FromStringAndSize("null", 4);
    else if ((key_json = quote_plain(targeting_key)) == NULL && !PyErr_Occurred())
        key_json = PyObject_CallOneArg(self->json_string, targeting_key);
    if (key_json == NULL || !PyBytes_CheckExact(key_json))
        goto fall_back;
    if (context == NULL)
        context_json = PyBytes_FromStringAndSize("\"{}\"", 4);
    else {
        context_text = PyObject_CallOneArg(self->json_string, context);
        if (context_text == NULL || !PyBytes_CheckExact(context_text))
            goto fall_back;
        context_json = quote_json(context_text);
    }
    if (context_json == NULL)
        goto fall_back;
    /* Python's floor division, for the odd negative time */
    long long time_us = time_ns / 1000 - (time_ns % 1000 < 0);
    long long ms = time_us / 1000 - (time_us % 1000 < 0);
    long long within = time_us - ms * 1000;
    if ((ms_obj = PyObject_GetAttr(self->stamps, str_ms)) == NULL)
        goto fall_back;
    long long stamped = PyLong_AsLongLong(ms_obj);
    if (stamped == -1 && PyErr_Occurred())
        goto fall_back;
    if (stamped != ms) {
        Py_DECREF(ms_obj);
        if ((ms_obj = PyLong_FromLongLong(ms)) == NULL)
            goto fall_back;
        PyObject *done = PyObject_CallMethodOneArg(self->stamps, str_at, ms_obj);
        if (done == NULL)
            goto fall_back;
        Py_DECREF(done);
    }
    if ((id_prefix = PyObject_GetAttr(self->stamps, str_id_prefix)) == NULL
        || (time_prefix = PyObject_GetAttr(self->stamps, str_time_prefix)) == NULL
        || !PyBytes_CheckExact(id_prefix) || !PyBytes_CheckExact(time_prefix)
        || !PyList_CheckExact(self->id_tails) || PyList_GET_SIZE(self->id_tails) != 4096
        || !PyList_CheckExact(self->micros) || PyList_GET_SIZE(self->micros) != 1000)
        goto fall_back;
    PyObject *micro = PyList_GET_ITEM(self->micros, within);
    if (!PyBytes_CheckExact(micro))
        goto fall_back;
    /* Last, so that a fall-back above has not used up a counter value. */
    if ((counter = PyIter_Next(self->id_counter)) == NULL)
        goto fall_back;
    long long count = PyLong_AsLongLong(counter);
    if (count == -1 && PyErr_Occurred())
        goto fall_back;
    PyObject *tail = PyList_GET_ITEM(self->id_tails, count & 0xFFF);
    if (!PyBytes_CheckExact(tail))
        goto fall_back;
    PyObject *pieces[11] = {
        PyTuple_GET_ITEM(parts, 0), id_prefix, tail, PyTuple_GET_ITEM(parts, 1), time_prefix,
        micro, PyTuple_GET_ITEM(parts, 2), key_json, PyTuple_GET_ITEM(parts, 3), context_json,
        PyTuple_GET_ITEM(parts, 4),
    };
    Py_ssize_t size = 0;
    for (int i = 0; i < 11; i++)
        size += PyBytes_GET_SIZE(pieces[i]);
    if ((data = PyBytes_FromStringAndSize(NULL, size)) == NULL)
        goto release;
    char *out = PyBytes_AS_STRING(data);
    for (int i = 0; i < 11; i++) {
        memcpy(out, PyBytes_AS_STRING(pieces[i]), PyBytes_GET_SIZE(pieces[i]));
        out += PyBytes_GET_SIZE(pieces[i]);
    }
    if ((time_us_obj = PyLong_FromLongLong(time_us)) == NULL)
        goto release;
    if ((line = self->line_type->tp_alloc(self->line_type, 3)) == NULL)
        goto release;
    PyTuple_SET_ITEM(line, 0, data);
    PyTuple_SET_ITEM(line, 1, time_us_obj);
    PyTuple_SET_ITEM(line, 2, Py_NewRef(targeting_key));
    /* A line holds bytes, an int and a str: it can be in no cycle, and batches keep thousands
     * of them alive long enough for every collection to walk them otherwise. */
    PyObject_GC_UnTrack(line);
    data = time_us_obj = NULL;
    goto release;
fall_back:
    /* Nothing is half done: the Python path encodes the record from the start (and raises
     * the EncodingError this would have met). */
    PyErr_Clear();
    line = slow(self, record);
release:
    Py_DECREF(parts);
    Py_XDECREF(key_json);
    Py_XDECREF(context_text);
    Py_XDECREF(context_json);
    Py_XDECREF(ms_obj);
    Py_XDECREF(id_prefix);
    Py_XDECREF(time_prefix);
    Py_XDECREF(counter);
    Py_XDECREF(data);
    Py_XDECREF(time_us_obj);
    return line;
}

static PyObject *
joiner_line(LineJoiner *self, PyObject *record)
{
    if (Py_TYPE(record) == &RecordType) { /* what the C capture makes */
        Record *captured = (Record *)record;
        if (captured->fields[R_KIND] != evaluation_kind)
            return slow(self, record);
        PyObject *attributes = record_attributes(captured);
        if (attributes == NULL) {
            PyErr_Clear();
            return slow(self, record);
        }
        PyObject *line = join(self, record, captured->fields, attributes, captured->time_ns);
        Py_DECREF(attributes);
        return line;
    }
    /* a tuple: the Python capture, or a record the privacy gate rewrote */
    if (!PyTuple_CheckExact(record) || PyTuple_GET_SIZE(record) != R_SIZE
        || PyTuple_GET_ITEM(record, R_KIND) != evaluation_kind
        || !PyLong_CheckExact(PyTuple_GET_ITEM(record, R_TIME_NS)))
        return slow(self, record);
    long long time_ns = PyLong_AsLongLong(PyTuple_GET_ITEM(record, R_TIME_NS));
    if (time_ns == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return slow(self, record);
    }
    PyObject *attributes = PyTuple_GET_ITEM(record, R_ATTRIBUTES);
    Py_INCREF(attributes); /* held while an __eq__ may run (cached_parts) */
    PyObject *line = join(self, record, &PyTuple_GET_ITEM(record, 0), attributes, time_ns);
    Py_DECREF(attributes);
    return line;
}

static PyObject *
joiner_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "LineJoiner takes one capture record");
        return NULL;
    }
    return joiner_line((LineJoiner *)callable, args[0]);
}

static int
joiner_init(LineJoiner *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"lines", "fallback", "stamps", "id_counter", "id_tails", "micros",
                             "json_string", "metadata_key", "private_key", "line_type", "filter",
                             NULL};
    PyObject *lines, *fallback, *stamps, *id_counter, *id_tails, *micros, *json_string,
        *metadata_key, *private_key, *line_type;
    int filter;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OOOO!O!OOUO!i:LineJoiner", kwlist, &PyDict_Type,
                                     &lines, &fallback, &stamps, &id_counter, &PyList_Type,
                                     &id_tails, &PyList_Type, &micros, &json_string, &metadata_key,
                                     &private_key, &PyType_Type, &line_type, &filter))
        return -1;
    if (!PyType_IsSubtype((PyTypeObject *)line_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "line_type must be a tuple subclass");
        return -1;
    }
    if (filter < 0 || filter > 2) {
        PyErr_SetString(PyExc_ValueError, "filter is 0, 1 or 2");
        return -1;
    }
    Py_XSETREF(self->lines, Py_NewRef(lines));
    Py_XSETREF(self->fallback, Py_NewRef(fallback));
    Py_XSETREF(self->stamps, Py_NewRef(stamps));
    Py_XSETREF(self->id_counter, Py_NewRef(id_counter));
    Py_XSETREF(self->id_tails, Py_NewRef(id_tails));
    Py_XSETREF(self->micros, Py_NewRef(micros));
    Py_XSETREF(self->json_string, Py_NewRef(json_string));
    Py_XSETREF(self->metadata_key, Py_NewRef(metadata_key));
    Py_XSETREF(self->private_key, Py_NewRef(private_key));
    Py_XSETREF(self->line_type, (PyTypeObject *)Py_NewRef(line_type));
    self->filter = filter;
    self->vectorcall = joiner_vectorcall;
    return 0;
}

REFERENCES_GC(joiner, LineJoiner, lines, line_type)

PyTypeObject LineJoinerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openfeature_s3_export._speedups.LineJoiner",
    .tp_doc = "LineJoiner(...)(record): an evaluation's encoded line (see _rows.RowBuilder).",
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    REFERENCES_GC_SLOTS(joiner, LineJoiner),
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(LineJoiner, vectorcall),
};
