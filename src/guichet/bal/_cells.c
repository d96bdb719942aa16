/* Native cell splitting and dictionary encoding for the BAL reader (guichet.bal._cells).
 *
 * Why native: on a text without quotes, cutting lines into cells and encoding each column as
 * (distinct values, one code per row) was most of the validator's and the diff's time in
 * Python (str.split builds one string object per cell; dict lookups then hash each of them).
 * Here a cell only becomes a Python string when it is the first of its value in its column.
 *
 * The semantics are exactly those of the pure-Python path (guichet.bal._columns):
 *   - lines are text[start:stop].split(linebreak); empty lines are skipped;
 *   - every other line must hold exactly width - 1 delimiters, else the chunk is refused (None);
 *   - cell j of a line is line.split(delimiter)[j];
 *   - a column's values come in order of first occurrence (as dict.fromkeys).
 * tests/bal/test_native_cells.py compares both on generated and real texts.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* bounds: for row i, cells start at b[i*(width+1)+j] and cell j ends one character before
 * b[i*(width+1)+j+1]; b[i*(width+1)+width] is the line's end plus one. */

/* One pass over the characters: a delimiter ends a cell, a line break a line. */
#define SPLIT_BODY(CHAR_T)                                                                  \
    {                                                                                       \
        const CHAR_T *s = (const CHAR_T *)data;                                            \
        const CHAR_T d = (CHAR_T)delim, l0 = (CHAR_T)lb0, l1 = (CHAR_T)lb1;                 \
        Py_ssize_t pos = start;                                                             \
        while (pos < stop) {                                                                \
            if (rows == capacity) {                                                         \
                Py_ssize_t grown = capacity ? capacity * 2 : first_capacity;                \
                Py_ssize_t *more =                                                          \
                    PyMem_Realloc(b, (size_t)grown * (size_t)stride * sizeof(Py_ssize_t));  \
                if (more == NULL) {                                                         \
                    PyMem_Free(b);                                                          \
                    return PyErr_NoMemory();                                                \
                }                                                                           \
                b = more;                                                                   \
                capacity = grown;                                                           \
            }                                                                               \
            Py_ssize_t *row = b + rows * stride;                                            \
            Py_ssize_t cell = 0, k = pos;                                                   \
            row[0] = pos;                                                                   \
            for (; k < stop; k++) {                                                         \
                CHAR_T c = s[k];                                                            \
                if (c == d) {                                                               \
                    if (++cell >= width) { /* too many cells: the line is not empty */      \
                        PyMem_Free(b);                                                      \
                        Py_RETURN_NONE;                                                     \
                    }                                                                       \
                    row[cell] = k + 1;                                                      \
                } else if (c == l0 && (lb_len == 1 || (k + 1 < stop && s[k + 1] == l1))) {  \
                    break;                                                                  \
                }                                                                           \
            }                                                                               \
            if (k > pos) { /* an empty line is skipped */                                   \
                if (cell != width - 1) {                                                    \
                    PyMem_Free(b);                                                          \
                    Py_RETURN_NONE;                                                         \
                }                                                                           \
                row[width] = k + 1;                                                         \
                rows++;                                                                     \
            }                                                                               \
            pos = k < stop ? k + lb_len : stop;                                             \
        }                                                                                   \
    }

/* Room for row ``rows`` in b (grown by doubling); -1 with MemoryError set (b freed). */
static int
grow_rows(Py_ssize_t **b, Py_ssize_t *capacity, Py_ssize_t rows, Py_ssize_t stride,
          Py_ssize_t first_capacity)
{
    if (rows < *capacity)
        return 0;
    Py_ssize_t grown = *capacity ? *capacity * 2 : first_capacity;
    Py_ssize_t *more = PyMem_Realloc(*b, (size_t)grown * (size_t)stride * sizeof(Py_ssize_t));
    if (more == NULL) {
        PyMem_Free(*b);
        *b = NULL;
        PyErr_NoMemory();
        return -1;
    }
    *b = more;
    *capacity = grown;
    return 0;
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* Bit k set where s[k] is d or l, for k < n <= 64. */
static inline uint64_t
specials64(const Py_UCS1 *s, Py_ssize_t n, __m128i vd, __m128i vl, Py_UCS1 d, Py_UCS1 l)
{
    uint64_t mask = 0;
    if (n == 64) {
        for (int q = 0; q < 4; q++) {
            __m128i block = _mm_loadu_si128((const __m128i *)(s + 16 * q));
            __m128i hits = _mm_or_si128(_mm_cmpeq_epi8(block, vd), _mm_cmpeq_epi8(block, vl));
            mask |= (uint64_t)(uint16_t)_mm_movemask_epi8(hits) << (16 * q);
        }
        return mask;
    }
    for (Py_ssize_t k = 0; k < n; k++)
        if (s[k] == d || s[k] == l)
            mask |= (uint64_t)1 << k;
    return mask;
}

/* SPLIT_BODY for a 1-byte text, 64 characters at a time: a block's delimiters and line
 * breaks are found with SSE2 compares, then visited bit by bit. Cells are ~10 characters:
 * testing every character was most of the split's time. Same result as SPLIT_BODY.
 * Returns 1 (rows and bounds in *rows_out, *out), 0 for a refused text, -1 on MemoryError. */
static int
split_ucs1(const Py_UCS1 *s, Py_ssize_t start, Py_ssize_t stop, Py_UCS1 d, Py_UCS1 l0,
           Py_UCS1 l1, Py_ssize_t lb_len, Py_ssize_t width, Py_ssize_t first_capacity,
           Py_ssize_t **out, Py_ssize_t *rows_out)
{
    Py_ssize_t stride = width + 1, rows = 0, capacity = 0, cell = 0;
    Py_ssize_t line = start; /* where the current line starts */
    Py_ssize_t next = start; /* a character before this one is part of a line break */
    Py_ssize_t *b = NULL;
    const __m128i vd = _mm_set1_epi8((char)d), vl = _mm_set1_epi8((char)l0);
    if (grow_rows(&b, &capacity, rows, stride, first_capacity) < 0)
        return -1;
    Py_ssize_t *row = b;
    row[0] = start;
    for (Py_ssize_t base = start; base < stop; base += 64) {
        uint64_t mask = specials64(s + base, stop - base < 64 ? stop - base : 64, vd, vl, d, l0);
        while (mask) {
            Py_ssize_t k = base + __builtin_ctzll(mask);
            mask &= mask - 1;
            if (k < next)
                continue;
            if (s[k] == d) {
                if (++cell >= width)
                    goto refused;
                row[cell] = k + 1;
            } else if (lb_len == 1 || (k + 1 < stop && s[k + 1] == l1)) {
                if (k > line) { /* an empty line is skipped */
                    if (cell != width - 1)
                        goto refused;
                    row[width] = k + 1;
                    rows++;
                    if (grow_rows(&b, &capacity, rows, stride, first_capacity) < 0)
                        return -1;
                }
                line = next = k + lb_len;
                cell = 0;
                row = b + rows * stride;
                row[0] = line;
            }
        }
    }
    if (stop > line) { /* the last line, without a line break */
        if (cell != width - 1)
            goto refused;
        row[width] = stop + 1;
        rows++;
    }
    *out = b;
    *rows_out = rows;
    return 1;
refused:
    PyMem_Free(b);
    return 0;
}
#endif

/* split(text, start, stop, delimiter, linebreak, width) -> (rows, bounds: bytes) | None */
static PyObject *
cells_split(PyObject *self, PyObject *args)
{
    PyObject *text, *delimiter, *linebreak;
    Py_ssize_t start, stop, width;
    if (!PyArg_ParseTuple(args, "UnnUUn", &text, &start, &stop, &delimiter, &linebreak, &width))
        return NULL;
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    Py_ssize_t lb_len = PyUnicode_GET_LENGTH(linebreak);
    if (PyUnicode_GET_LENGTH(delimiter) != 1 || lb_len < 1 || lb_len > 2 || width < 1) {
        PyErr_SetString(PyExc_ValueError, "one-character delimiter, 1-2 character linebreak");
        return NULL;
    }
    if (start < 0)
        start = 0;
    if (stop > length)
        stop = length;
    Py_UCS4 delim = PyUnicode_READ_CHAR(delimiter, 0);
    Py_UCS4 lb0 = PyUnicode_READ_CHAR(linebreak, 0);
    Py_UCS4 lb1 = lb_len == 2 ? PyUnicode_READ_CHAR(linebreak, 1) : 0;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    /* a delimiter or line break the text cannot hold in its kind can never be found */
    Py_UCS4 max_char = kind == PyUnicode_1BYTE_KIND ? 0xff : kind == PyUnicode_2BYTE_KIND ? 0xffff
                                                                                        : 0x10ffff;
    if (delim > max_char || lb0 > max_char || lb1 > max_char) {
        PyErr_SetString(PyExc_ValueError, "delimiter or line break outside the text's range");
        return NULL;
    }
    Py_ssize_t stride = width + 1;
    Py_ssize_t rows = 0, capacity = 0;
    /* a row holds width - 1 delimiters: no more rows than that allows (wide rows, few lines) */
    Py_ssize_t most_rows = (stop - start) / (width > 1 ? width - 1 : 1) + 1;
    Py_ssize_t first_capacity = most_rows < 1024 ? most_rows : 1024;
    Py_ssize_t *b = NULL;
    if (kind == PyUnicode_1BYTE_KIND) {
#if defined(__SSE2__)
        int split = split_ucs1((const Py_UCS1 *)data, start, stop, (Py_UCS1)delim, (Py_UCS1)lb0,
                               (Py_UCS1)lb1, lb_len, width, first_capacity, &b, &rows);
        if (split < 0)
            return NULL;
        if (split == 0)
            Py_RETURN_NONE;
#else
        SPLIT_BODY(Py_UCS1)
#endif
    } else if (kind == PyUnicode_2BYTE_KIND)
        SPLIT_BODY(Py_UCS2)
    else
        SPLIT_BODY(Py_UCS4)
    PyObject *bounds = PyBytes_FromStringAndSize(
        (const char *)b, (Py_ssize_t)(rows * stride * (Py_ssize_t)sizeof(Py_ssize_t)));
    PyMem_Free(b);
    if (bounds == NULL)
        return NULL;
    return Py_BuildValue("nN", rows, bounds);
}

/* The n < 8 bytes at p as a word, zero above them; ``end``: where the readable bytes end. A
 * whole word is read where the bytes after them can be (no byte-by-byte copy, whose stores the
 * word's load then waits for: a third of column()'s time on short cells, measured). */
static inline uint64_t
short_word(const unsigned char *p, Py_ssize_t n, const unsigned char *end)
{
    uint64_t word = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (end - p >= 8) {
        memcpy(&word, p, 8);
        return n ? word & (~(uint64_t)0 >> (64 - 8 * n)) : 0;
    }
#endif
    memcpy(&word, p, (size_t)n);
    return word;
}

/* A 64-bit hash of n bytes, 8 at a time (cells are short: ~10 characters); the bytes up to
 * ``end`` may be read past them. */
static uint64_t
hash_span(const unsigned char *p, Py_ssize_t n, const unsigned char *end)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        h = (h ^ word) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
    }
    if (n > 0)
        h = (h ^ short_word(p, n, end)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 29);
}

/* Whether the n bytes at p and q are equal; the bytes up to p_end and q_end may be read. */
static inline int
same_bytes(const unsigned char *p, const unsigned char *p_end, const unsigned char *q,
           const unsigned char *q_end, Py_ssize_t n)
{
    if (n < 8)
        return short_word(p, n, p_end) == short_word(q, n, q_end);
    return memcmp(p, q, (size_t)n) == 0;
}

/* A slot of column()'s table: a value's hash, where its first cell is, and its code + 1
 * (0: an empty slot). Comparing hashes first spares reading the other cell's characters. */
typedef struct {
    uint64_t hash;
    Py_ssize_t start, length, code;
} Slot;

#define FIRST_SLOTS 256
/* A coder's table starts small and doubles past half full: most columns hold a few distinct
 * values (a table sized for every row was cleared, ~0.5 MB, for each column of each chunk). */

/* The slots in a table twice as big (size: a power of two), placed by their hash; NULL when
 * out of memory (``slots`` then left as they were). */
static Slot *
slots_grown(Slot *slots, Py_ssize_t *size)
{
    Py_ssize_t old = *size, bigger = old * 2, mask = bigger - 1;
    Slot *grown = PyMem_Calloc((size_t)bigger, sizeof(Slot));
    if (grown == NULL)
        return NULL;
    for (Py_ssize_t k = 0; k < old; k++) {
        if (slots[k].code == 0)
            continue;
        Py_ssize_t at = (Py_ssize_t)(slots[k].hash & (uint64_t)mask);
        while (grown[at].code != 0)
            at = (at + 1) & mask;
        grown[at] = slots[k];
    }
    PyMem_Free(slots);
    *size = bigger;
    return grown;
}

/* One column being coded: ``values`` (every cell when unique, else the first of each value)
 * and, when not unique, each row's code in ``codes`` and the table of values seen. */
typedef struct {
    int unique;
    PyObject *values, *codes;
    Slot *slots;
    Py_ssize_t size, distinct;
} Coder;

static int
coder_init(Coder *coder, int unique, Py_ssize_t rows)
{
    coder->unique = unique;
    coder->values = PyList_New(unique ? rows : 0);
    if (coder->values == NULL)
        return -1;
    if (unique)
        return 0;
    coder->size = FIRST_SLOTS;
    coder->slots = PyMem_Calloc((size_t)coder->size, sizeof(Slot));
    coder->codes = PyBytes_FromStringAndSize(NULL, rows * (Py_ssize_t)sizeof(Py_ssize_t));
    if (coder->slots == NULL || coder->codes == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void
coder_clear(Coder *coder)
{
    Py_CLEAR(coder->values);
    Py_CLEAR(coder->codes);
    PyMem_Free(coder->slots);
    coder->slots = NULL;
}

/* (values, codes | None), the coder's references given to it. */
static PyObject *
coder_result(Coder *coder)
{
    PyMem_Free(coder->slots);
    coder->slots = NULL;
    PyObject *codes = coder->codes ? coder->codes : Py_NewRef(Py_None);
    PyObject *result = Py_BuildValue("NN", coder->values, codes);
    coder->values = coder->codes = NULL;
    return result;
}

/* Row i's cell text[a:a + n] coded; -1 on an error (set). */
static int
coder_add(Coder *coder, PyObject *text, const unsigned char *data, const unsigned char *end,
          int kind, Py_ssize_t i, Py_ssize_t a, Py_ssize_t n)
{
    if (coder->unique) {
        PyObject *cell = PyUnicode_Substring(text, a, a + n);
        if (cell == NULL)
            return -1;
        PyList_SET_ITEM(coder->values, i, cell);
        return 0;
    }
    const unsigned char *p = data + a * kind;
    Py_ssize_t bytes = n * kind, mask = coder->size - 1;
    Py_ssize_t *out = (Py_ssize_t *)PyBytes_AS_STRING(coder->codes);
    uint64_t hash = hash_span(p, bytes, end);
    for (Py_ssize_t at = (Py_ssize_t)(hash & (uint64_t)mask);; at = (at + 1) & mask) {
        Slot *slot = &coder->slots[at];
        if (slot->code == 0) {
            PyObject *cell = PyUnicode_Substring(text, a, a + n);
            if (cell == NULL || PyList_Append(coder->values, cell) < 0) {
                Py_XDECREF(cell);
                return -1;
            }
            Py_DECREF(cell);
            slot->hash = hash;
            slot->start = a;
            slot->length = n;
            slot->code = ++coder->distinct;
            out[i] = coder->distinct - 1;
            if (coder->distinct * 2 > coder->size) {
                Slot *grown = slots_grown(coder->slots, &coder->size);
                if (grown == NULL) {
                    PyErr_NoMemory();
                    return -1;
                }
                coder->slots = grown;
            }
            return 0;
        }
        if (slot->hash == hash && slot->length == n &&
            same_bytes(data + slot->start * kind, end, p, end, bytes)) {
            out[i] = slot->code - 1;
            return 0;
        }
    }
}

/* The bounds of a split() chunk of ``rows`` rows of ``width`` cells, checked. */
static const Py_ssize_t *
chunk_bounds(Py_buffer *view, Py_ssize_t rows, Py_ssize_t width)
{
    if (rows < 0 || width < 1 || view->len < rows * (width + 1) * (Py_ssize_t)sizeof(Py_ssize_t)) {
        PyErr_SetString(PyExc_ValueError, "bounds do not match rows and width");
        return NULL;
    }
    return (const Py_ssize_t *)view->buf;
}

/* column(text, bounds, rows, width, j, unique) -> (values: list[str], codes: bytes | None)
 *
 * Column j of a split() chunk: codes is None when unique is true, values then holding every
 * cell in row order; else values holds each distinct cell once, in order of first appearance,
 * and codes (Py_ssize_t) each row's index in it. */
static PyObject *
cells_column(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_buffer view;
    Py_ssize_t rows, width, j;
    int unique;
    if (!PyArg_ParseTuple(args, "Uy*nnnp", &text, &view, &rows, &width, &j, &unique))
        return NULL;
    const Py_ssize_t *b = chunk_bounds(&view, rows, width);
    if (b != NULL && (j < 0 || j >= width)) {
        PyErr_SetString(PyExc_ValueError, "no such column");
        b = NULL;
    }
    Coder coder = {0};
    if (b == NULL || coder_init(&coder, unique, rows) < 0)
        goto fail;
    int kind = PyUnicode_KIND(text);
    const unsigned char *data = (const unsigned char *)PyUnicode_DATA(text);
    const unsigned char *end = data + PyUnicode_GET_LENGTH(text) * kind;
    Py_ssize_t *out = unique ? NULL : (Py_ssize_t *)PyBytes_AS_STRING(coder.codes);
    Py_ssize_t last = 0, last_length = -1; /* the previous row's cell */
    for (Py_ssize_t i = 0; i < rows; i++) {
        const Py_ssize_t *row = b + i * (width + 1);
        Py_ssize_t a = row[j], n = row[j + 1] - 1 - a;
        /* a cell often repeats the one above it (a commune, a street, its ids): compared
         * with it first, it is coded without hashing its characters */
        if (out != NULL && n == last_length &&
            same_bytes(data + a * kind, end, data + last * kind, end, n * kind)) {
            out[i] = out[i - 1];
            continue;
        }
        if (coder_add(&coder, text, data, end, kind, i, a, n) < 0)
            goto fail;
        last = a;
        last_length = n;
    }
    PyBuffer_Release(&view);
    return coder_result(&coder);
fail:
    coder_clear(&coder);
    PyBuffer_Release(&view);
    return NULL;
}

/* Whether s[0:n] fully matches -?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?[0-9]? (_values._FLOAT). */
static int
float_happy(const char *s, Py_ssize_t n)
{
    Py_ssize_t p = 0;
    if (p < n && s[p] == '-')
        p++;
    if (p >= n)
        return 0;
    int zero = s[p] == '0';
    if (zero)
        p++;
    else if (s[p] >= '1' && s[p] <= '9')
        while (p < n && s[p] >= '0' && s[p] <= '9')
            p++;
    else
        return 0;
    if (p == n)
        return 1;
    if (s[p] == '.') {
        p++;
        if (p >= n || s[p] < '0' || s[p] > '9')
            return 0;
        while (p < n && s[p] >= '0' && s[p] <= '9')
            p++;
        return p == n;
    }
    /* the trailing [0-9]?: only after a lone 0 (other integer parts took every digit) */
    return zero && p + 1 == n && s[p] >= '0' && s[p] <= '9';
}

/* A happy float (float_happy) with at most 15 digits and 22 after the point: its digits as an
 * integer m and its decimals k, m / 10^k is correctly rounded (m and 10^k are exact doubles and
 * IEEE division rounds once: Clinger's fast path), so equal to float(). NaN: not on this path. */
static double
exact_decimal(const char *s, Py_ssize_t n)
{
    static const double powers[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    Py_ssize_t p = 0;
    int negative = s[0] == '-';
    if (negative)
        p++;
    uint64_t m = 0;
    int digits = 0, decimals = 0, after_point = 0;
    for (; p < n; p++) {
        if (s[p] == '.') {
            after_point = 1;
            continue;
        }
        m = m * 10 + (uint64_t)(s[p] - '0');
        if (++digits > 15)
            return Py_NAN;
        decimals += after_point;
    }
    if (decimals > 22)
        return Py_NAN;
    double value = (double)m / powers[decimals];
    return negative ? -value : value;
}

/* float() of s[0:n] where it is a happy float (s NUL-terminated); 0 when it is not, -1 on an
 * error (set). */
static int
happy_float(const char *s, Py_ssize_t n, double *value)
{
    if (!float_happy(s, n))
        return 0;
    double parsed = exact_decimal(s, n);
    if (parsed != parsed) /* not on the fast path */
        parsed = PyOS_string_to_double(s, NULL, NULL);
    if (parsed == -1.0 && PyErr_Occurred())
        return -1;
    *value = parsed;
    return 1;
}

/* floats(values: list[str]) -> (bad: bytes of bools, floats: bytes of float64)
 *
 * bad: the values not in the happy float shape (_bulk.FLOAT_HAPPY); floats: float(value) for
 * the others (the same PyOS_string_to_double as float()), NaN for the bad ones. */
static PyObject *
cells_floats(PyObject *self, PyObject *args)
{
    PyObject *values;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &values))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(values);
    PyObject *bad = PyBytes_FromStringAndSize(NULL, n);
    PyObject *floats = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(double));
    if (bad == NULL || floats == NULL) {
        Py_XDECREF(bad);
        Py_XDECREF(floats);
        return NULL;
    }
    char *out_bad = PyBytes_AS_STRING(bad);
    double *out = (double *)PyBytes_AS_STRING(floats);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *value = PyList_GET_ITEM(values, i);
        int happy = 0;
        if (PyUnicode_Check(value) && PyUnicode_IS_ASCII(value)) {
            const char *s = (const char *)PyUnicode_1BYTE_DATA(value);
            Py_ssize_t len = PyUnicode_GET_LENGTH(value);
            happy = happy_float(s, len, &out[i]);
            if (happy < 0) {
                Py_DECREF(bad);
                Py_DECREF(floats);
                return NULL;
            }
        }
        out_bad[i] = !happy;
        if (!happy)
            out[i] = Py_NAN;
    }
    return Py_BuildValue("NN", bad, floats);
}

/* floats_at(text, bounds, rows, width, j) -> (bad, floats): floats() of column j's cells of a
 * split() chunk, read where they lie in text: no string is made for them. */
static PyObject *
cells_floats_at(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_buffer view;
    Py_ssize_t rows, width, j;
    if (!PyArg_ParseTuple(args, "Uy*nnn", &text, &view, &rows, &width, &j))
        return NULL;
    Py_ssize_t stride = width + 1;
    if (j < 0 || j >= width || rows < 0 ||
        view.len < rows * stride * (Py_ssize_t)sizeof(Py_ssize_t)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "bounds do not match rows and width");
        return NULL;
    }
    const Py_ssize_t *b = (const Py_ssize_t *)view.buf;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    PyObject *bad = PyBytes_FromStringAndSize(NULL, rows);
    PyObject *floats = PyBytes_FromStringAndSize(NULL, rows * (Py_ssize_t)sizeof(double));
    if (bad == NULL || floats == NULL)
        goto fail;
    char *out_bad = PyBytes_AS_STRING(bad);
    double *out = (double *)PyBytes_AS_STRING(floats);
    char small[64];
    for (Py_ssize_t i = 0; i < rows; i++) {
        const Py_ssize_t *row = b + i * stride;
        Py_ssize_t a = row[j], n = row[j + 1] - 1 - row[j];
        char *s = small;
        if (n >= (Py_ssize_t)sizeof small && (s = PyMem_Malloc((size_t)n + 1)) == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        int happy = 1; /* a happy float is ASCII: copied as chars, NUL-terminated */
        for (Py_ssize_t k = 0; k < n && happy; k++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, a + k);
            happy = c < 128;
            s[k] = (char)c;
        }
        s[n] = '\0';
        if (happy)
            happy = happy_float(s, n, &out[i]);
        if (s != small)
            PyMem_Free(s);
        if (happy < 0)
            goto fail;
        out_bad[i] = !happy;
        if (!happy)
            out[i] = Py_NAN;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("NN", bad, floats);
fail:
    Py_XDECREF(bad);
    Py_XDECREF(floats);
    PyBuffer_Release(&view);
    return NULL;
}

static int
is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* uuids(values: list[str]) -> bytes of bools: the values that are not a uuid v4 as
 * _values._UUID_V4 (xxxxxxxx-xxxx-4xxx-[89abAB]xxx-xxxxxxxxxxxx, hex digits of either case). */
static PyObject *
cells_uuids(PyObject *self, PyObject *args)
{
    PyObject *values;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &values))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(values);
    PyObject *bad = PyBytes_FromStringAndSize(NULL, n);
    if (bad == NULL)
        return NULL;
    char *out = PyBytes_AS_STRING(bad);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *value = PyList_GET_ITEM(values, i);
        int happy = PyUnicode_Check(value) && PyUnicode_IS_ASCII(value) &&
                    PyUnicode_GET_LENGTH(value) == 36;
        if (happy) {
            const char *s = (const char *)PyUnicode_1BYTE_DATA(value);
            for (int k = 0; k < 36 && happy; k++) {
                if (k == 8 || k == 13 || k == 18 || k == 23)
                    happy = s[k] == '-';
                else if (k == 14)
                    happy = s[k] == '4';
                else if (k == 19)
                    happy = strchr("89abAB", s[k]) != NULL && s[k] != '\0';
                else
                    happy = is_hex(s[k]);
            }
        }
        out[i] = !happy;
    }
    return bad;
}

/* Kinds of a cell read as a uuid v4 (_values._UUID_V4) by uuid_words(). */
enum { UUID_EMPTY = 0, UUID_LOWER = 1, UUID_OTHER_CASE = 2, UUID_BAD = 3 };

/* Where a uuid's 32 hex digits are among its 36 characters. */
static const unsigned char UUID_DIGITS[32] = {
    0,  1,  2,  3,  4,  5,  6,  7,  9,  10, 11, 12, 14, 15, 16, 17,
    19, 20, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35};

#define HEX_UPPER 0x10
#define HEX_BAD 0x20
/* A character's hex value, HEX_UPPER added for A-F; HEX_BAD for any other character. */
static unsigned char HEX_VALUES[256];

static void
hex_values_init(void)
{
    memset(HEX_VALUES, HEX_BAD, sizeof HEX_VALUES);
    for (int c = 0; c < 10; c++)
        HEX_VALUES['0' + c] = (unsigned char)c;
    for (int c = 0; c < 6; c++) {
        HEX_VALUES['a' + c] = (unsigned char)(10 + c);
        HEX_VALUES['A' + c] = (unsigned char)(10 + c) | HEX_UPPER;
    }
}

/* The kind of the 36 characters at s (UUID_LOWER: their 16 bytes written at w). Every digit
 * is looked up whatever the others (no branch per character: ~2x faster, measured). */
static char
uuid_cell(const Py_UCS1 *s, unsigned char *w)
{
    if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' || s[14] != '4')
        return UUID_BAD;
    unsigned char v = s[19];
    if (v != '8' && v != '9' && v != 'a' && v != 'b' && v != 'A' && v != 'B')
        return UUID_BAD;
    unsigned char seen = 0, bytes[16];
    for (int k = 0; k < 16; k++) {
        unsigned char hi = HEX_VALUES[s[UUID_DIGITS[2 * k]]];
        unsigned char lo = HEX_VALUES[s[UUID_DIGITS[2 * k + 1]]];
        seen |= hi | lo;
        bytes[k] = (unsigned char)((hi & 0xf) << 4 | (lo & 0xf));
    }
    if (seen & HEX_BAD)
        return UUID_BAD;
    if (seen & HEX_UPPER)
        return UUID_OTHER_CASE;
    memcpy(w, bytes, 16);
    return UUID_LOWER;
}

/* uuid_words(text, bounds, rows, width, j) -> (kinds: bytes, words: bytes)
 *
 * Column j of a split() chunk read as uuids v4, no string made: kinds[i] is 0 for an empty
 * cell, 1 for a uuid in lower case (its 16 bytes at words[16 i]), 2 for a uuid with an
 * upper-case digit, 3 for any other cell; the words of kinds other than 1 are zero. */
static PyObject *
cells_uuid_words(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_buffer view;
    Py_ssize_t rows, width, j;
    if (!PyArg_ParseTuple(args, "Uy*nnn", &text, &view, &rows, &width, &j))
        return NULL;
    const Py_ssize_t *b = chunk_bounds(&view, rows, width);
    if (b != NULL && (j < 0 || j >= width)) {
        PyErr_SetString(PyExc_ValueError, "no such column");
        b = NULL;
    }
    PyObject *kinds = b ? PyBytes_FromStringAndSize(NULL, rows) : NULL;
    PyObject *words = kinds ? PyBytes_FromStringAndSize(NULL, rows * 16) : NULL;
    if (words == NULL) {
        Py_XDECREF(kinds);
        PyBuffer_Release(&view);
        return NULL;
    }
    char *out_kinds = PyBytes_AS_STRING(kinds);
    unsigned char *out_words = (unsigned char *)PyBytes_AS_STRING(words);
    memset(out_words, 0, (size_t)rows * 16);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_UCS1 narrow[36];
    for (Py_ssize_t i = 0; i < rows; i++) {
        const Py_ssize_t *row = b + i * (width + 1);
        Py_ssize_t a = row[j], n = row[j + 1] - 1 - a;
        if (n != 36) {
            out_kinds[i] = n == 0 ? UUID_EMPTY : UUID_BAD;
            continue;
        }
        const Py_UCS1 *s = (const Py_UCS1 *)data + a;
        if (kind != PyUnicode_1BYTE_KIND) { /* a wider text: its cell narrowed, if it can be */
            for (int k = 0; k < 36; k++) {
                Py_UCS4 c = PyUnicode_READ(kind, data, a + k);
                narrow[k] = c < 128 ? (Py_UCS1)c : 0; /* (0: no uuid character) */
            }
            s = narrow;
        }
        out_kinds[i] = uuid_cell(s, out_words + 16 * i);
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("NN", kinds, words);
}

/* item_codes(items, size) -> (codes: bytes of int64, firsts: bytes of int64)
 *
 * Each item's code (items of 8 or 16 bytes: int64 values, uuids), equal items sharing one,
 * codes in order of first appearance, and where each code's item is first met: np.unique's
 * work without its sort, by hashing. */
static PyObject *
cells_item_codes(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t item;
    if (!PyArg_ParseTuple(args, "y*n", &view, &item))
        return NULL;
    if (item != 8 && item != 16) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "items of 8 or 16 bytes");
        return NULL;
    }
    Py_ssize_t n = view.len / item, size = 16, distinct = 0;
    while (size < 2 * n)
        size *= 2;
    const unsigned char *items = (const unsigned char *)view.buf;
    Py_ssize_t *slots = PyMem_Calloc((size_t)size, sizeof(Py_ssize_t)); /* an item + 1 */
    PyObject *codes = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    int64_t *firsts = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (slots == NULL || codes == NULL || firsts == NULL) {
        PyMem_Free(slots);
        PyMem_Free(firsts);
        Py_XDECREF(codes);
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    int64_t *out = (int64_t *)PyBytes_AS_STRING(codes);
    for (Py_ssize_t i = 0; i < n; i++) {
        const unsigned char *p = items + item * i;
        uint64_t lo, hi = 0;
        memcpy(&lo, p, 8);
        if (item == 16)
            memcpy(&hi, p + 8, 8);
        uint64_t h = (lo ^ (hi * 0xbf58476d1ce4e5b9ULL)) * 0x9e3779b97f4a7c15ULL;
        Py_ssize_t at = (Py_ssize_t)((h ^ (h >> 29)) & (uint64_t)(size - 1));
        for (;; at = (at + 1) & (size - 1)) {
            Py_ssize_t first = slots[at];
            if (first == 0) {
                slots[at] = i + 1;
                firsts[distinct] = i;
                out[i] = distinct++;
                break;
            }
            if (memcmp(items + item * (first - 1), p, (size_t)item) == 0) {
                out[i] = out[first - 1];
                break;
            }
        }
    }
    PyMem_Free(slots);
    PyBuffer_Release(&view);
    PyObject *found =
        PyBytes_FromStringAndSize((const char *)firsts, distinct * (Py_ssize_t)sizeof(int64_t));
    PyMem_Free(firsts);
    if (found == NULL) {
        Py_DECREF(codes);
        return NULL;
    }
    return Py_BuildValue("NN", codes, found);
}

/* truths(values: list) -> bytes of bools: bool(value) of each item. */
static PyObject *
cells_truths(PyObject *self, PyObject *args)
{
    PyObject *values;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &values))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(values);
    PyObject *truths = PyBytes_FromStringAndSize(NULL, n);
    if (truths == NULL)
        return NULL;
    char *out = PyBytes_AS_STRING(truths);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i >= PyList_GET_SIZE(values)) { /* a __bool__ shortened the list */
            Py_DECREF(truths);
            PyErr_SetString(PyExc_RuntimeError, "list changed size during truths()");
            return NULL;
        }
        PyObject *item = PyList_GET_ITEM(values, i);
        Py_INCREF(item); /* (a __bool__ could change the list) */
        int truth = PyObject_IsTrue(item);
        Py_DECREF(item);
        if (truth < 0) {
            Py_DECREF(truths);
            return NULL;
        }
        out[i] = (char)truth;
    }
    return truths;
}

/* factorize(values: list) -> (codes: bytes of int64, distinct: list)
 *
 * Each value's code, equal values (as dictionary keys) sharing one; codes in order of first
 * appearance, ``distinct`` the first of each. */
static PyObject *
cells_factorize(PyObject *self, PyObject *args)
{
    PyObject *values;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &values))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(values);
    PyObject *index = PyDict_New();
    PyObject *distinct = PyList_New(0);
    PyObject *codes = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    if (index == NULL || distinct == NULL || codes == NULL)
        goto fail;
    int64_t *out = (int64_t *)PyBytes_AS_STRING(codes);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i >= PyList_GET_SIZE(values)) { /* a __hash__ or __eq__ shortened the list */
            PyErr_SetString(PyExc_RuntimeError, "list changed size during factorize()");
            goto fail;
        }
        PyObject *item = PyList_GET_ITEM(values, i);
        Py_INCREF(item);
        PyObject *found = PyDict_GetItemWithError(index, item); /* borrowed */
        if (found == NULL) {
            if (PyErr_Occurred()) {
                Py_DECREF(item);
                goto fail;
            }
            Py_ssize_t code = PyList_GET_SIZE(distinct);
            PyObject *number = PyLong_FromSsize_t(code);
            int failed = number == NULL || PyDict_SetItem(index, item, number) < 0 ||
                         PyList_Append(distinct, item) < 0;
            Py_XDECREF(number);
            Py_DECREF(item);
            if (failed)
                goto fail;
            out[i] = code;
        } else {
            Py_DECREF(item);
            out[i] = PyLong_AsSsize_t(found);
        }
    }
    Py_DECREF(index);
    return Py_BuildValue("NN", codes, distinct);
fail:
    Py_XDECREF(index);
    Py_XDECREF(distinct);
    Py_XDECREF(codes);
    return NULL;
}

/* slices(values: list[str], start, stop) -> (codes: bytes of Py_ssize_t, distinct: list[str])
 *
 * factorize([value[start:stop] for value in values]) without making a string per value: the
 * slice of a 1-byte string is hashed where it lies; only the first of each distinct slice
 * becomes a string. Other strings are sliced (a slice is made in its smallest kind, so equal
 * slices have equal kinds and bytes). */
static PyObject *
cells_slices(PyObject *self, PyObject *args)
{
    PyObject *values;
    Py_ssize_t start, stop;
    if (!PyArg_ParseTuple(args, "O!nn", &PyList_Type, &values, &start, &stop))
        return NULL;
    if (start < 0 || stop < start) {
        PyErr_SetString(PyExc_ValueError, "0 <= start <= stop");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(values);
    Py_ssize_t size = 64;
    while (size < n * 2)
        size <<= 1;
    Py_ssize_t mask = size - 1;
    Slot *slots = PyMem_Calloc((size_t)size, sizeof(Slot));
    PyObject *distinct = PyList_New(0);
    PyObject *codes = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(Py_ssize_t));
    if (slots == NULL || distinct == NULL || codes == NULL) {
        PyMem_Free(slots);
        Py_XDECREF(distinct);
        Py_XDECREF(codes);
        return PyErr_NoMemory();
    }
    Py_ssize_t *out = (Py_ssize_t *)PyBytes_AS_STRING(codes);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *value = PyList_GET_ITEM(values, i);
        if (!PyUnicode_Check(value)) {
            PyErr_SetString(PyExc_TypeError, "slices() takes a list of str");
            goto fail;
        }
        Py_ssize_t length = PyUnicode_GET_LENGTH(value);
        Py_ssize_t a = start < length ? start : length, b = stop < length ? stop : length;
        PyObject *sliced = NULL; /* made only for a string of more than 1 byte a character */
        int kind = PyUnicode_KIND(value);
        const unsigned char *p, *p_end; /* the slice, and the end of the characters it is in */
        if (kind == PyUnicode_1BYTE_KIND) {
            p = PyUnicode_1BYTE_DATA(value) + a;
            p_end = PyUnicode_1BYTE_DATA(value) + length;
        } else {
            sliced = PyUnicode_Substring(value, a, b);
            if (sliced == NULL)
                goto fail;
            kind = PyUnicode_KIND(sliced);
            p = (const unsigned char *)PyUnicode_DATA(sliced);
            p_end = p + (b - a) * kind;
        }
        Py_ssize_t chars = b - a, bytes = chars * kind;
        uint64_t hash = hash_span(p, bytes, p_end) ^ (uint64_t)kind;
        for (Py_ssize_t at = (Py_ssize_t)(hash & (uint64_t)mask);; at = (at + 1) & mask) {
            Slot *slot = &slots[at];
            if (slot->code == 0) {
                if (sliced == NULL && (sliced = PyUnicode_Substring(value, a, b)) == NULL)
                    goto fail;
                if (PyList_Append(distinct, sliced) < 0) {
                    Py_DECREF(sliced);
                    goto fail;
                }
                slot->hash = hash;
                slot->code = PyList_GET_SIZE(distinct);
                out[i] = slot->code - 1;
                break;
            }
            if (slot->hash == hash) {
                PyObject *known = PyList_GET_ITEM(distinct, slot->code - 1);
                if (PyUnicode_KIND(known) == kind && PyUnicode_GET_LENGTH(known) == chars &&
                    memcmp(PyUnicode_DATA(known), p, (size_t)bytes) == 0) {
                    out[i] = slot->code - 1;
                    break;
                }
            }
        }
        Py_XDECREF(sliced);
    }
    PyMem_Free(slots);
    return Py_BuildValue("NN", codes, distinct);
fail:
    PyMem_Free(slots);
    Py_DECREF(distinct);
    Py_DECREF(codes);
    return NULL;
}

/* take(values: list, codes: buffer of Py_ssize_t) -> list: [values[code] for code in codes] */
static PyObject *
cells_take(PyObject *self, PyObject *args)
{
    PyObject *values;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "O!y*", &PyList_Type, &values, &view))
        return NULL;
    Py_ssize_t n = view.len / (Py_ssize_t)sizeof(Py_ssize_t);
    const Py_ssize_t *codes = (const Py_ssize_t *)view.buf;
    Py_ssize_t known = PyList_GET_SIZE(values);
    PyObject *taken = PyList_New(n);
    if (taken == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t code = codes[i];
        if (code < 0 || code >= known) {
            Py_DECREF(taken);
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_IndexError, "take(): a code outside the values");
            return NULL;
        }
        PyObject *item = PyList_GET_ITEM(values, code);
        Py_INCREF(item);
        PyList_SET_ITEM(taken, i, item);
    }
    PyBuffer_Release(&view);
    return taken;
}

static int
is_lower_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

/* Whether s[0:n] fully matches _bulk.CLE_HAPPY:
 * [0-9a-z]{5}_(?!xxxx|0000)[0-9a-z]{4}_[0-9]{5}(?:_[0-9a-z]+)* */
static int
cle_happy(const char *s, Py_ssize_t n)
{
    if (n < 16 || s[5] != '_' || s[10] != '_')
        return 0;
    for (int k = 0; k < 10; k++)
        if (k != 5 && !is_lower_alnum(s[k]))
            return 0;
    if (memcmp(s + 6, "xxxx", 4) == 0 || memcmp(s + 6, "0000", 4) == 0)
        return 0;
    for (int k = 11; k < 16; k++)
        if (s[k] < '0' || s[k] > '9')
            return 0;
    for (Py_ssize_t p = 16; p < n;) { /* runs of "_" then one or more [0-9a-z] */
        if (s[p++] != '_')
            return 0;
        Py_ssize_t run = p;
        while (p < n && is_lower_alnum(s[p]))
            p++;
        if (p == run)
            return 0;
    }
    return 1;
}

/* cles(values: list[str]) -> bytes of bools: the values not fully matching _bulk.CLE_HAPPY */
static PyObject *
cells_cles(PyObject *self, PyObject *args)
{
    PyObject *values;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &values))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(values);
    PyObject *bad = PyBytes_FromStringAndSize(NULL, n);
    if (bad == NULL)
        return NULL;
    char *out = PyBytes_AS_STRING(bad);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *value = PyList_GET_ITEM(values, i);
        int happy = PyUnicode_Check(value) && PyUnicode_IS_ASCII(value) &&
                    cle_happy((const char *)PyUnicode_1BYTE_DATA(value),
                              PyUnicode_GET_LENGTH(value));
        out[i] = !happy;
    }
    return bad;
}

/* equals(values: list, value) -> bytes of bools: item == value (as operator.eq, then bool) */
static PyObject *
cells_equals(PyObject *self, PyObject *args)
{
    PyObject *values, *value;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &values, &value))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(values);
    PyObject *equal = PyBytes_FromStringAndSize(NULL, n);
    if (equal == NULL)
        return NULL;
    char *out = PyBytes_AS_STRING(equal);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i >= PyList_GET_SIZE(values)) {
            Py_DECREF(equal);
            PyErr_SetString(PyExc_RuntimeError, "list changed size during equals()");
            return NULL;
        }
        PyObject *item = PyList_GET_ITEM(values, i);
        Py_INCREF(item);
        PyObject *result = PyObject_RichCompare(item, value, Py_EQ);
        Py_DECREF(item);
        int truth = result == NULL ? -1 : PyObject_IsTrue(result);
        Py_XDECREF(result);
        if (truth < 0) {
            Py_DECREF(equal);
            return NULL;
        }
        out[i] = (char)truth;
    }
    return equal;
}

/* A growable bytes object, handed over when complete (no copy of what it holds: a report's
 * rows are tens of MB). */
typedef struct {
    PyObject *bytes; /* NULL until something is added */
    Py_ssize_t size;
} Buffer;

static int
buffer_add(Buffer *buffer, const char *data, Py_ssize_t size)
{
    Py_ssize_t capacity = buffer->bytes ? PyBytes_GET_SIZE(buffer->bytes) : 0;
    if (buffer->size + size > capacity) {
        Py_ssize_t wanted = capacity ? capacity : 1 << 16;
        while (wanted < buffer->size + size)
            wanted *= 2;
        if (buffer->bytes == NULL)
            buffer->bytes = PyBytes_FromStringAndSize(NULL, wanted);
        else
            _PyBytes_Resize(&buffer->bytes, wanted); /* NULL, with an error set, on failure */
        if (buffer->bytes == NULL)
            return -1;
    }
    memcpy(PyBytes_AS_STRING(buffer->bytes) + buffer->size, data, (size_t)size);
    buffer->size += size;
    return 0;
}

/* The bytes added (new reference), the buffer left empty; NULL on an error (set). */
static PyObject *
buffer_finish(Buffer *buffer)
{
    PyObject *bytes = buffer->bytes;
    buffer->bytes = NULL;
    if (bytes == NULL)
        return PyBytes_FromStringAndSize("", 0);
    if (_PyBytes_Resize(&bytes, buffer->size) < 0)
        return NULL;
    return bytes;
}

/* ``line`` in decimal followed by ", " (as "%zd, "); its length. */
static int
format_line(char *out, Py_ssize_t line)
{
    char reversed[24];
    int n = 0, size = 0;
    size_t value = line < 0 ? (size_t)0 - (size_t)line : (size_t)line;
    do {
        reversed[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    if (line < 0)
        out[size++] = '-';
    while (n)
        out[size++] = reversed[--n];
    out[size++] = ',';
    out[size++] = ' ';
    return size;
}

#define TAIL_CACHE 16

typedef struct {
    PyObject *error, *tail;
} TailCache;

static void
tail_cache_clear(TailCache *cache)
{
    for (int k = 0; k < TAIL_CACHE; k++) {
        Py_CLEAR(cache[k].error);
        Py_CLEAR(cache[k].tail);
    }
}

/* The tail of one error, a new reference (bytes, or None where the profile drops it): the
 * errors met last are found by identity in ``cache`` (the cross-row checks share one error
 * tuple between all the rows they flag: most need no tuple hashed), others in ``tails``, a
 * missing one is ``compute(error)``, kept there. NULL on an error (set). */
static PyObject *
tail_of(PyObject *error, TailCache *cache, PyObject *tails, PyObject *compute)
{
    TailCache *cached = &cache[((uintptr_t)error >> 4) % TAIL_CACHE];
    if (error == cached->error)
        return Py_NewRef(cached->tail);
    Py_INCREF(error); /* compute may run any code */
    PyObject *tail = PyDict_GetItemWithError(tails, error);
    if (tail != NULL) {
        Py_INCREF(tail);
    } else if (!PyErr_Occurred()) {
        tail = PyObject_CallOneArg(compute, error);
        if (tail != NULL && PyDict_SetItem(tails, error, tail) < 0)
            Py_CLEAR(tail);
    }
    if (tail != NULL && tail != Py_None && !PyBytes_Check(tail)) {
        PyErr_SetString(PyExc_TypeError, "a tail is bytes or None");
        Py_CLEAR(tail);
    }
    if (tail == NULL) {
        Py_DECREF(error);
        return NULL;
    }
    /* the entries hold references: an address is never taken by another tuple while cached */
    Py_XSETREF(cached->error, error);
    Py_XSETREF(cached->tail, Py_NewRef(tail));
    return tail;
}

/* Appends one item to ``out``: ``", "`` unless first, then ``opening``, the line's digits
 * and ``tail`` (bytes). 0, or -1 with an exception set. */
static int
add_item(Buffer *out, int *first, const Py_buffer *opening, const char *digits, int digits_size,
         PyObject *tail)
{
    int failed = (!*first && buffer_add(out, ", ", 2) < 0) ||
                 buffer_add(out, opening->buf, opening->len) < 0 ||
                 buffer_add(out, digits, digits_size) < 0 ||
                 buffer_add(out, PyBytes_AS_STRING(tail), PyBytes_GET_SIZE(tail)) < 0;
    *first = 0;
    return failed ? -1 : 0;
}

/* The tails of ``errors`` (any sequence) that are not None, as a new list; NULL on an error. */
static PyObject *
tails_of(PyObject *errors, TailCache *cache, PyObject *tails, PyObject *compute)
{
    /* a new reference, a list or tuple of its own (compute may run any code) */
    PyObject *sequence = PySequence_Fast(errors, "errors are a sequence");
    PyObject *out = sequence == NULL ? NULL : PyList_New(0);
    for (Py_ssize_t k = 0; out != NULL && k < PySequence_Fast_GET_SIZE(sequence); k++) {
        PyObject *tail = tail_of(PySequence_Fast_GET_ITEM(sequence, k), cache, tails, compute);
        if (tail == NULL || (tail != Py_None && PyList_Append(out, tail) < 0))
            Py_CLEAR(out);
        Py_XDECREF(tail);
    }
    Py_XDECREF(sequence);
    return out;
}

/* items(rows: list[tuple[int, Sequence]], lines: Buffer, which: Buffer, sets: list[Sequence],
 *       tails: dict, compute, opening: bytes) -> bytes
 *
 * The JSON items of rows' errors, rows in line order, joined by b", ": each row's own errors
 * (``rows``: (line, errors), lines ascending), then those the cross-row checks gave it (row
 * ``lines[i]`` has ``sets[which[i]]``; ``lines`` ascending, both intp arrays). An error's item
 * is ``opening + str(line) + b", " + tail``, its tail found by tail_of(); a set's tails are
 * found once for all the rows that have it. */
static PyObject *
cells_items(PyObject *self, PyObject *args)
{
    PyObject *rows, *sets, *tails, *compute, *resolved = NULL;
    Py_buffer lines, which, opening;
    if (!PyArg_ParseTuple(args, "O!y*y*O!O!Oy*", &PyList_Type, &rows, &lines, &which,
                          &PyList_Type, &sets, &PyDict_Type, &tails, &compute, &opening))
        return NULL;
    Buffer out = {NULL, 0};
    int first = 1;
    TailCache cache[TAIL_CACHE] = {{NULL, NULL}};
    const Py_ssize_t *flagged = lines.buf, *set_of = which.buf;
    Py_ssize_t flags = lines.len / (Py_ssize_t)sizeof(Py_ssize_t);
    if (lines.len != which.len || lines.len % (Py_ssize_t)sizeof(Py_ssize_t)) {
        PyErr_SetString(PyExc_ValueError, "lines and which are intp arrays of one length");
        goto fail;
    }
    /* each set's tails (a copy of the list first: compute may run any code) */
    resolved = PyList_GetSlice(sets, 0, PyList_GET_SIZE(sets));
    for (Py_ssize_t k = 0; resolved != NULL && k < PyList_GET_SIZE(resolved); k++) {
        PyObject *found = tails_of(PyList_GET_ITEM(resolved, k), cache, tails, compute);
        if (found == NULL)
            goto fail;
        PyList_SetItem(resolved, k, found); /* steals found, drops the set */
    }
    if (resolved == NULL)
        goto fail;
    Py_ssize_t i = 0, j = 0;
    while (i < PyList_GET_SIZE(rows) || j < flags) {
        PyObject *own = NULL; /* the tails of rows[i] when it is this line's */
        Py_ssize_t line = j < flags ? flagged[j] : 0;
        if (i < PyList_GET_SIZE(rows)) {
            PyObject *next = PyList_GET_ITEM(rows, i);
            if (!PyTuple_Check(next) || PyTuple_GET_SIZE(next) != 2) {
                PyErr_SetString(PyExc_TypeError, "rows are (line, errors) tuples");
                goto fail;
            }
            Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GET_ITEM(next, 0));
            if (at == -1 && PyErr_Occurred())
                goto fail;
            if (j >= flags || at <= line) {
                line = at;
                i++;
                Py_INCREF(next);
                own = tails_of(PyTuple_GET_ITEM(next, 1), cache, tails, compute);
                Py_DECREF(next);
                if (own == NULL)
                    goto fail;
            }
        }
        PyObject *added = NULL; /* borrowed from resolved */
        if (j < flags && flagged[j] == line) {
            Py_ssize_t k = set_of[j++];
            if (k < 0 || k >= PyList_GET_SIZE(resolved)) {
                PyErr_SetString(PyExc_IndexError, "which points outside sets");
                Py_XDECREF(own);
                goto fail;
            }
            added = PyList_GET_ITEM(resolved, k);
        }
        char digits[32];
        int digits_size = format_line(digits, line);
        int failed = 0;
        for (Py_ssize_t k = 0; own != NULL && !failed && k < PyList_GET_SIZE(own); k++)
            failed = add_item(&out, &first, &opening, digits, digits_size,
                              PyList_GET_ITEM(own, k)) < 0;
        for (Py_ssize_t k = 0; added != NULL && !failed && k < PyList_GET_SIZE(added); k++)
            failed = add_item(&out, &first, &opening, digits, digits_size,
                              PyList_GET_ITEM(added, k)) < 0;
        Py_XDECREF(own);
        if (failed)
            goto fail;
    }
    tail_cache_clear(cache);
    Py_DECREF(resolved);
    PyBuffer_Release(&lines);
    PyBuffer_Release(&which);
    PyBuffer_Release(&opening);
    return buffer_finish(&out);
fail:
    tail_cache_clear(cache);
    Py_XDECREF(resolved);
    PyBuffer_Release(&lines);
    PyBuffer_Release(&which);
    PyBuffer_Release(&opening);
    Py_XDECREF(out.bytes);
    return NULL;
}

/* The columns of one side of differ(): their indexes in a row's bounds (-1: an empty cell). */
static int
read_columns(PyObject *columns, Py_ssize_t count, Py_ssize_t width, Py_ssize_t *out)
{
    for (Py_ssize_t c = 0; c < count; c++) {
        out[c] = PyLong_AsSsize_t(PyTuple_GET_ITEM(columns, c));
        if (out[c] == -1 && PyErr_Occurred())
            return -1;
        if (out[c] < -1 || out[c] >= width) {
            PyErr_SetString(PyExc_ValueError, "column index out of range");
            return -1;
        }
    }
    return 0;
}

/* Whether text_a[a:a+n] and text_b[b:b+n] hold the same characters (any string kinds). */
static int
same_span(int kind_a, const char *data_a, Py_ssize_t a, int kind_b, const char *data_b,
          Py_ssize_t b, Py_ssize_t n)
{
    if (kind_a == kind_b)
        return memcmp(data_a + a * kind_a, data_b + b * kind_b, (size_t)(n * kind_a)) == 0;
    for (Py_ssize_t k = 0; k < n; k++)
        if (PyUnicode_READ(kind_a, data_a, a + k) != PyUnicode_READ(kind_b, data_b, b + k))
            return 0;
    return 1;
}

/* One side of differ(): its text, where its rows start and end, its delimiter, the columns
 * compared and room for one row's cell starts. */
typedef struct {
    int kind;
    const char *data;
    Py_UCS4 delimiter;
    Py_ssize_t width, rows;
    Py_buffer starts, ends; /* per row, its first character and one past its last */
    Py_ssize_t *columns;    /* the compared columns (-1: an empty cell) */
    Py_ssize_t *cells;      /* one row's cell starts, then its end + 1 */
} Side;

static void
side_free(Side *side)
{
    if (side->starts.obj != NULL)
        PyBuffer_Release(&side->starts);
    if (side->ends.obj != NULL)
        PyBuffer_Release(&side->ends);
    PyMem_Free(side->columns);
    PyMem_Free(side->cells);
}

static int
side_init(Side *side, PyObject *text, PyObject *starts, PyObject *ends, PyObject *delimiter,
          Py_ssize_t width, PyObject *columns)
{
    Py_ssize_t count = PyTuple_GET_SIZE(columns);
    side->kind = PyUnicode_KIND(text);
    side->data = PyUnicode_DATA(text);
    side->width = width;
    if (width < 1 || PyUnicode_GET_LENGTH(delimiter) != 1) {
        PyErr_SetString(PyExc_ValueError, "positive width and one-character delimiter");
        return -1;
    }
    side->delimiter = PyUnicode_READ_CHAR(delimiter, 0);
    side->columns = PyMem_Malloc((size_t)(count ? count : 1) * sizeof(Py_ssize_t));
    side->cells = PyMem_Malloc((size_t)(width + 1) * sizeof(Py_ssize_t));
    if (side->columns == NULL || side->cells == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (read_columns(columns, count, width, side->columns) < 0)
        return -1;
    if (PyObject_GetBuffer(starts, &side->starts, PyBUF_SIMPLE) < 0 ||
        PyObject_GetBuffer(ends, &side->ends, PyBUF_SIMPLE) < 0)
        return -1;
    side->rows = side->starts.len / (Py_ssize_t)sizeof(Py_ssize_t);
    if (side->ends.len != side->starts.len) {
        PyErr_SetString(PyExc_ValueError, "starts and ends differ in length");
        return -1;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    const Py_ssize_t *a = side->starts.buf, *e = side->ends.buf;
    for (Py_ssize_t i = 0; i < side->rows; i++)
        if (a[i] < 0 || a[i] > e[i] || e[i] > length) {
            PyErr_SetString(PyExc_ValueError, "a row outside the text");
            return -1;
        }
    return 0;
}

/* Cuts row i into side->cells; -1 (ValueError) when it does not hold width cells. */
static int
side_row(Side *side, Py_ssize_t i)
{
    if (i < 0 || i >= side->rows) {
        PyErr_SetString(PyExc_IndexError, "row out of range");
        return -1;
    }
    Py_ssize_t start = ((const Py_ssize_t *)side->starts.buf)[i];
    Py_ssize_t end = ((const Py_ssize_t *)side->ends.buf)[i];
    Py_ssize_t cell = 0;
    side->cells[0] = start;
    if (side->kind == PyUnicode_1BYTE_KIND && side->delimiter <= 0xff) {
        const Py_UCS1 *data = (const Py_UCS1 *)side->data;
        Py_UCS1 d = (Py_UCS1)side->delimiter;
#if defined(__SSE2__)
        const __m128i vd = _mm_set1_epi8((char)d); /* 64 characters at a time, as split() */
        for (Py_ssize_t base = start; base < end && cell < side->width; base += 64) {
            uint64_t mask = specials64(data + base, end - base < 64 ? end - base : 64, vd, vd, d, d);
            for (; mask && ++cell < side->width; mask &= mask - 1)
                side->cells[cell] = base + __builtin_ctzll(mask) + 1;
        }
#else
        for (Py_ssize_t k = start; k < end; k++)
            if (data[k] == d) {
                if (++cell >= side->width)
                    break;
                side->cells[cell] = k + 1;
            }
#endif
    } else {
        for (Py_ssize_t k = start; k < end; k++)
            if (PyUnicode_READ(side->kind, side->data, k) == side->delimiter) {
                if (++cell >= side->width)
                    break;
                side->cells[cell] = k + 1;
            }
    }
    if (cell != side->width - 1) {
        PyErr_SetString(PyExc_ValueError, "a row without the width's cells");
        return -1;
    }
    side->cells[side->width] = end + 1;
    return 0;
}

/* The two sides and the pairs of differ() and differences(), read from their arguments. */
typedef struct {
    Side sides[2];
    Py_buffer rows[2];
    Py_ssize_t count; /* compared fields */
    Py_ssize_t pairs;
    const Py_ssize_t *olds, *news;
} Pairs;

static void
pairs_free(Pairs *pairs)
{
    for (int s = 0; s < 2; s++) {
        side_free(&pairs->sides[s]);
        if (pairs->rows[s].obj != NULL)
            PyBuffer_Release(&pairs->rows[s]);
    }
}

/* 0, or -1 with an exception set (call pairs_free either way). */
static int
pairs_init(Pairs *pairs, PyObject *args)
{
    PyObject *texts[2], *starts[2], *ends[2], *delimiters[2], *columns[2];
    Py_ssize_t widths[2];
    memset(pairs, 0, sizeof(*pairs));
    if (!PyArg_ParseTuple(args, "UOOUnO!UOOUnO!y*y*", &texts[0], &starts[0], &ends[0],
                          &delimiters[0], &widths[0], &PyTuple_Type, &columns[0], &texts[1],
                          &starts[1], &ends[1], &delimiters[1], &widths[1], &PyTuple_Type,
                          &columns[1], &pairs->rows[0], &pairs->rows[1]))
        return -1;
    pairs->count = PyTuple_GET_SIZE(columns[0]);
    pairs->pairs = pairs->rows[0].len / (Py_ssize_t)sizeof(Py_ssize_t);
    if (PyTuple_GET_SIZE(columns[1]) != pairs->count || pairs->rows[1].len != pairs->rows[0].len) {
        PyErr_SetString(PyExc_ValueError, "columns or rows of both sides differ in length");
        return -1;
    }
    for (int s = 0; s < 2; s++)
        if (side_init(&pairs->sides[s], texts[s], starts[s], ends[s], delimiters[s], widths[s],
                      columns[s]) < 0)
            return -1;
    pairs->olds = (const Py_ssize_t *)pairs->rows[0].buf;
    pairs->news = (const Py_ssize_t *)pairs->rows[1].buf;
    return 0;
}

/* Whether compared field c holds the same cell in both sides' current rows; its spans. */
static int
same_cell(const Side *a, const Side *b, Py_ssize_t c, Py_ssize_t span_a[2], Py_ssize_t span_b[2])
{
    Py_ssize_t ja = a->columns[c], jb = b->columns[c];
    span_a[0] = ja < 0 ? 0 : a->cells[ja];
    span_b[0] = jb < 0 ? 0 : b->cells[jb];
    span_a[1] = ja < 0 ? 0 : a->cells[ja + 1] - 1 - span_a[0];
    span_b[1] = jb < 0 ? 0 : b->cells[jb + 1] - 1 - span_b[0];
    return span_a[1] == span_b[1] &&
           same_span(a->kind, a->data, span_a[0], b->kind, b->data, span_b[0], span_a[1]);
}

/* differ(old_text, old_starts, old_ends, old_delimiter, old_width, old_columns,
 *        new_text, new_starts, new_ends, new_delimiter, new_width, new_columns,
 *        olds, news) -> bytes
 *
 * For each pair k, 1 when any compared cell of old row olds[k] differs from the same field's
 * cell of new row news[k] (old_columns[c] and new_columns[c] are that field's columns, -1 an
 * empty cell), else 0: the diff's "modified" without a string per row, and with only where
 * each row starts and ends kept (its cells are found again here). */
static PyObject *
cells_differ(PyObject *self, PyObject *args)
{
    Pairs pairs;
    PyObject *out = NULL;
    if (pairs_init(&pairs, args) < 0)
        goto done;
    out = PyBytes_FromStringAndSize(NULL, pairs.pairs);
    if (out == NULL)
        goto done;
    char *differs = PyBytes_AS_STRING(out);
    Side *a = &pairs.sides[0], *b = &pairs.sides[1];
    for (Py_ssize_t k = 0; k < pairs.pairs; k++) {
        if (side_row(a, pairs.olds[k]) < 0 || side_row(b, pairs.news[k]) < 0) {
            Py_CLEAR(out);
            goto done;
        }
        Py_ssize_t span_a[2], span_b[2];
        char differ = 0;
        for (Py_ssize_t c = 0; c < pairs.count && !differ; c++)
            differ = !same_cell(a, b, c, span_a, span_b);
        differs[k] = differ;
    }
done:
    pairs_free(&pairs);
    return out;
}

/* differences(same arguments as differ) -> list[list[tuple[int, str, str]]]
 *
 * For each pair, the compared cells that differ: (index in the columns, old cell, new cell). */
static PyObject *
cells_differences(PyObject *self, PyObject *args)
{
    Pairs pairs;
    PyObject *out = NULL;
    if (pairs_init(&pairs, args) < 0)
        goto done;
    out = PyList_New(pairs.pairs);
    if (out == NULL)
        goto done;
    Side *a = &pairs.sides[0], *b = &pairs.sides[1];
    for (Py_ssize_t k = 0; k < pairs.pairs; k++) {
        PyObject *found = PyList_New(0);
        if (found == NULL || side_row(a, pairs.olds[k]) < 0 || side_row(b, pairs.news[k]) < 0) {
            Py_XDECREF(found);
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, k, found);
        for (Py_ssize_t c = 0; c < pairs.count; c++) {
            Py_ssize_t span_a[2], span_b[2];
            if (same_cell(a, b, c, span_a, span_b))
                continue;
            PyObject *old_cell = PyUnicode_FromKindAndData(
                a->kind, a->data + span_a[0] * a->kind, span_a[1]);
            PyObject *new_cell = PyUnicode_FromKindAndData(
                b->kind, b->data + span_b[0] * b->kind, span_b[1]);
            PyObject *change = old_cell != NULL && new_cell != NULL
                                   ? Py_BuildValue("(nOO)", c, old_cell, new_cell)
                                   : NULL;
            Py_XDECREF(old_cell);
            Py_XDECREF(new_cell);
            if (change == NULL || PyList_Append(found, change) < 0) {
                Py_XDECREF(change);
                Py_CLEAR(out);
                goto done;
            }
            Py_DECREF(change);
        }
    }
done:
    pairs_free(&pairs);
    return out;
}

static PyMethodDef cells_methods[] = {
    {"differences", cells_differences, METH_VARARGS,
     "differences(...differ's arguments) -> for each pair, [(column, old, new)] of its changes"},
    {"differ", cells_differ, METH_VARARGS,
     "differ(old_text, old_starts, old_ends, old_delimiter, old_width, old_columns, new_text, "
     "new_starts, new_ends, new_delimiter, new_width, new_columns, olds, news) -> bytes: 1 "
     "where a pair's compared cells differ"},
    {"items", cells_items, METH_VARARGS,
     "items(rows, lines, which, sets, tails, compute, opening) -> bytes: the JSON items of "
     "rows' errors, their own then the cross-row checks'"},
    {"factorize", cells_factorize, METH_VARARGS,
     "factorize(values) -> (codes, distinct): equal values share a code"},
    {"equals", cells_equals, METH_VARARGS, "equals(values, value) -> item == value of each"},
    {"slices", cells_slices, METH_VARARGS,
     "slices(values, start, stop) -> (codes, distinct): factorize of value[start:stop]"},
    {"take", cells_take, METH_VARARGS, "take(values, codes) -> [values[c] for c in codes]"},
    {"cles", cells_cles, METH_VARARGS, "cles(values) -> bad: not a cle_interop's happy shape"},
    {"floats", cells_floats, METH_VARARGS,
     "floats(values) -> (bad, floats): the happy float shape and float() of each value"},
    {"floats_at", cells_floats_at, METH_VARARGS,
     "floats_at(text, bounds, rows, width, j) -> (bad, floats): floats() of column j"},
    {"uuids", cells_uuids, METH_VARARGS, "uuids(values) -> bad: not a uuid v4"},
    {"uuid_words", cells_uuid_words, METH_VARARGS,
     "uuid_words(text, bounds, rows, width, j) -> (kinds, words)"},
    {"item_codes", cells_item_codes, METH_VARARGS, "item_codes(items, size) -> (codes, firsts)"},
    {"truths", cells_truths, METH_VARARGS, "truths(values) -> bool() of each item"},
    {"split", cells_split, METH_VARARGS,
     "split(text, start, stop, delimiter, linebreak, width) -> (rows, bounds) | None"},
    {"column", cells_column, METH_VARARGS,
     "column(text, bounds, rows, width, j, unique) -> (values, codes | None)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef cells_module = {
    PyModuleDef_HEAD_INIT,
    "_cells",
    "Native cell splitting for the BAL reader.",
    -1,
    cells_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__cells(void)
{
    hex_values_init();
    return PyModule_Create(&cells_module);
}
