/*
 * searchsafe._speedups: the compiled scoring path.
 *
 * Everything here has a pure-Python reference (searchsafe/_normalize.py,
 * _lang.py, _features.py, _classifier.py) and must give the same bits; the
 * tests compare the two on every query of data/ and on hypothesis text.
 *
 * What lives here and why:
 *   - is_normal(): a conservative pre-check. Most queries are already in
 *     normal form; for those normalize() is the identity and can be skipped.
 *     It may say "no" for text that is normal (then Python's normalize runs),
 *     never "yes" for text normalize() would change. Only plain letters of a
 *     few scripts pass, so a change to normalize()'s rules rarely needs a port
 *     here: it only has to keep these characters unchanged.
 *   - fold_words(), join_words(), detect_language(): straight ports.
 *   - logits(): feature generation, CRC-32 hashing, the gather and the sum.
 *     Feature strings are never built: each one is a prefix byte plus a run of
 *     code points, hashed as the UTF-8 Python would produce.
 *
 * Sums follow numpy's np.add.reduceat over float32 rows exactly: the first
 * row, plus the pairwise sum of the rest (numpy's pairwise_sum: below 8 a
 * plain loop from 0, up to 128 eight accumulators, above that halves rounded
 * to a multiple of 8). Build with floating-point contraction off so that
 * a*b+c stays two roundings as in numpy.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CATEGORIES 64

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

/* ------------------------------------------------------------------ */
/* CRC-32 (IEEE 802.3, reflected), bit-identical to zlib.crc32.        */

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int j = 0; j < 8; j++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

/* The running state is kept inverted, as zlib does internally. */
static inline uint32_t crc_byte(uint32_t crc, uint8_t b)
{
    return crc_table[(crc ^ b) & 0xFF] ^ (crc >> 8);
}

static inline uint32_t crc_cp(uint32_t crc, Py_UCS4 c)
{
    if (c < 0x80) {
        return crc_byte(crc, (uint8_t)c);
    } else if (c < 0x800) {
        crc = crc_byte(crc, (uint8_t)(0xC0 | (c >> 6)));
        return crc_byte(crc, (uint8_t)(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        crc = crc_byte(crc, (uint8_t)(0xE0 | (c >> 12)));
        crc = crc_byte(crc, (uint8_t)(0x80 | ((c >> 6) & 0x3F)));
        return crc_byte(crc, (uint8_t)(0x80 | (c & 0x3F)));
    }
    crc = crc_byte(crc, (uint8_t)(0xF0 | (c >> 18)));
    crc = crc_byte(crc, (uint8_t)(0x80 | ((c >> 12) & 0x3F)));
    crc = crc_byte(crc, (uint8_t)(0x80 | ((c >> 6) & 0x3F)));
    return crc_byte(crc, (uint8_t)(0x80 | (c & 0x3F)));
}

static inline uint32_t crc_run(uint32_t crc, const Py_UCS4 *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        crc = crc_cp(crc, s[i]);
    return crc;
}

static PyObject *py_crc32(PyObject *self, PyObject *arg)
{
    /* For tests: the CRC of a str's UTF-8, computed the way logits() does. */
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "crc32() takes a str");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    uint32_t crc = 0xFFFFFFFFu;
    for (Py_ssize_t i = 0; i < n; i++)
        crc = crc_cp(crc, PyUnicode_READ(kind, data, i));
    return PyLong_FromUnsignedLong(crc ^ 0xFFFFFFFFu);
}

/* ------------------------------------------------------------------ */
/* Character classes shared with the Python regexes.                   */

/* str.split()'s whitespace. No whitespace character lies above U+3000, so
 * kana, kanji and Hangul skip the call Py_UNICODE_ISSPACE makes for them. */
static inline int is_space(Py_UCS4 c)
{
    return c <= 0x3000 && Py_UNICODE_ISSPACE(c);
}

static inline int is_hangul_syllable(Py_UCS4 c) { return c >= 0xAC00 && c <= 0xD7A3; }
static inline int is_hiragana(Py_UCS4 c) { return c >= 0x3041 && c <= 0x3096; }
/* re's \w for str patterns is str.isalnum() plus "_". */
static inline int is_alnum(Py_UCS4 c) { return Py_UNICODE_ISALNUM(c); }
/* _WEDGED_DIGITS' neighbours: [\uac00-\ud7a3\u3041-\u3096]. */
static inline int wedge_side(Py_UCS4 c) { return is_hangul_syllable(c) || is_hiragana(c); }

/* Remove runs of ASCII digits with a Hangul syllable or hiragana on both sides. */
static Py_ssize_t drop_wedged_digits(Py_UCS4 *s, Py_ssize_t n)
{
    Py_ssize_t w = 0, i = 0;
    while (i < n) {
        Py_UCS4 c = s[i];
        if (c >= '0' && c <= '9') {
            Py_ssize_t j = i;
            while (j < n && s[j] >= '0' && s[j] <= '9')
                j++;
            int wedged = i > 0 && j < n && wedge_side(s[i - 1]) && wedge_side(s[j]);
            if (!wedged) {
                memmove(s + w, s + i, (size_t)(j - i) * sizeof(Py_UCS4));
                w += j - i;
            }
            i = j;
        } else {
            s[w++] = c;
            i++;
        }
    }
    return w;
}

/* _LONG_REPEAT: a character repeated three or more times counts once (re's "." skips \n). */
static Py_ssize_t collapse_repeats(Py_UCS4 *s, Py_ssize_t n)
{
    Py_ssize_t w = 0, i = 0;
    while (i < n) {
        Py_UCS4 c = s[i];
        Py_ssize_t j = i + 1;
        while (j < n && s[j] == c)
            j++;
        if (j - i >= 3 && c != '\n') {
            s[w++] = c;
        } else {
            for (Py_ssize_t t = i; t < j; t++)
                s[w++] = c;
        }
        i = j;
    }
    return w;
}

static Py_UCS4 *ucs4_copy(PyObject *s, Py_ssize_t *len)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    Py_UCS4 *buf = PyMem_Malloc((size_t)(n + 1) * sizeof(Py_UCS4));
    if (buf == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    for (Py_ssize_t i = 0; i < n; i++)
        buf[i] = PyUnicode_READ(kind, data, i);
    *len = n;
    return buf;
}

/* A str argument of one of the str -> str functions, as UCS-4 (free with
 * PyMem_Free), or NULL with TypeError naming the function. */
static Py_UCS4 *str_arg_ucs4(PyObject *arg, const char *name, Py_ssize_t *len)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "%s() takes a str; got %.100s", name, Py_TYPE(arg)->tp_name);
        return NULL;
    }
    return ucs4_copy(arg, len);
}

/* fold_words on a buffer, in place; returns the new length. */
static Py_ssize_t fold_words_buf(Py_UCS4 *s, Py_ssize_t n)
{
    Py_ssize_t w = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = s[i];
        if (c >= 0x30A1 && c <= 0x30F6)
            c -= 0x60; /* katakana to hiragana (_KANA_FOLD) */
        /* _NOT_WORD_OR_SPACE = [^\w ]+|_+ : keep letters, digits and ASCII space. */
        if (c == ' ' || is_alnum(c))
            s[w++] = c;
    }
    n = drop_wedged_digits(s, w);
    n = collapse_repeats(s, n);
    /* " ".join(text.split()): only ASCII spaces remain, so trim and squeeze them. */
    w = 0;
    int pending = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            pending = w > 0;
        } else {
            if (pending)
                s[w++] = ' ';
            pending = 0;
            s[w++] = s[i];
        }
    }
    return w;
}

static Py_ssize_t join_words_buf(Py_UCS4 *s, Py_ssize_t n)
{
    Py_ssize_t w = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] != ' ')
            s[w++] = s[i];
    n = drop_wedged_digits(s, w);
    return collapse_repeats(s, n);
}

static PyObject *apply_buf(PyObject *arg, Py_ssize_t (*fn)(Py_UCS4 *, Py_ssize_t), const char *name)
{
    Py_ssize_t n;
    Py_UCS4 *buf = str_arg_ucs4(arg, name, &n);
    if (buf == NULL)
        return NULL;
    n = fn(buf, n);
    PyObject *out = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, n);
    PyMem_Free(buf);
    return out;
}

static PyObject *py_fold_words(PyObject *self, PyObject *arg) { return apply_buf(arg, fold_words_buf, "fold_words"); }
static PyObject *py_join_words(PyObject *self, PyObject *arg) { return apply_buf(arg, join_words_buf, "join_words"); }

/* ------------------------------------------------------------------ */
/* searchsafe._hangul.compose_jamo: loose compatibility jamo composed into
 * syllables as a two-set keyboard does, after every syllable is decomposed.
 * Tables are the Python module's, as code points. */

static const Py_UCS4 CHO_CP[19] = {0x3131, 0x3132, 0x3134, 0x3137, 0x3138, 0x3139, 0x3141, 0x3142, 0x3143, 0x3145,
                                   0x3146, 0x3147, 0x3148, 0x3149, 0x314a, 0x314b, 0x314c, 0x314d, 0x314e};
/* Finals 1..27 (0 is none). */
static const Py_UCS4 JONG_CP[28] = {0, 0x3131, 0x3132, 0x3133, 0x3134, 0x3135, 0x3136, 0x3137, 0x3139, 0x313a,
                                    0x313b, 0x313c, 0x313d, 0x313e, 0x313f, 0x3140, 0x3141, 0x3142, 0x3144, 0x3145,
                                    0x3146, 0x3147, 0x3148, 0x314a, 0x314b, 0x314c, 0x314d, 0x314e};
static const Py_UCS4 VOWEL_PAIRS[7][3] = {{0x3157, 0x314f, 0x3158}, {0x3157, 0x3150, 0x3159}, {0x3157, 0x3163, 0x315a},
                                          {0x315c, 0x3153, 0x315d}, {0x315c, 0x3154, 0x315e}, {0x315c, 0x3163, 0x315f},
                                          {0x3161, 0x3163, 0x3162}};
static const Py_UCS4 FINAL_PAIRS[11][3] = {{0x3131, 0x3145, 0x3133}, {0x3134, 0x3148, 0x3135}, {0x3134, 0x314e, 0x3136},
                                           {0x3139, 0x3131, 0x313a}, {0x3139, 0x3141, 0x313b}, {0x3139, 0x3142, 0x313c},
                                           {0x3139, 0x3145, 0x313d}, {0x3139, 0x314c, 0x313e}, {0x3139, 0x314d, 0x313f},
                                           {0x3139, 0x314e, 0x3140}, {0x3142, 0x3145, 0x3144}};
#define JUNG_FIRST 0x314f
#define JUNG_LAST 0x3163
#define SYL_FIRST 0xAC00
#define SYL_LAST 0xD7A3

static int cho_index(Py_UCS4 c)
{
    for (int i = 0; i < 19; i++)
        if (CHO_CP[i] == c)
            return i;
    return -1;
}

static int jong_index(Py_UCS4 c)
{
    for (int i = 1; i < 28; i++)
        if (JONG_CP[i] == c)
            return i;
    return -1;
}

static int is_vowel(Py_UCS4 c) { return c >= JUNG_FIRST && c <= JUNG_LAST; }

static Py_UCS4 pair_of(const Py_UCS4 (*pairs)[3], int n, Py_UCS4 a, Py_UCS4 b)
{
    for (int i = 0; i < n; i++)
        if (pairs[i][0] == a && pairs[i][1] == b)
            return pairs[i][2];
    return 0;
}

static PyObject *py_compose_jamo(PyObject *self, PyObject *arg)
{
    Py_ssize_t n;
    Py_UCS4 *text = str_arg_ucs4(arg, "compose_jamo", &n);
    if (text == NULL)
        return NULL;
    int loose = 0;
    for (Py_ssize_t i = 0; i < n && !loose; i++)
        loose = text[i] >= 0x3131 && text[i] <= 0x3163;
    if (!loose) {
        PyMem_Free(text);
        Py_INCREF(arg);
        return arg;
    }
    /* A syllable decomposes into at most four jamo (a double final splits in two). */
    Py_UCS4 *seq = PyMem_New(Py_UCS4, 4 * n + 1), *out = PyMem_New(Py_UCS4, 4 * n + 1);
    if (seq == NULL || out == NULL) {
        PyMem_Free(text);
        PyMem_Free(seq);
        PyMem_Free(out);
        return PyErr_NoMemory();
    }
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = text[i];
        if (c >= SYL_FIRST && c <= SYL_LAST) {
            Py_UCS4 code = c - SYL_FIRST, fin = code % 28;
            seq[m++] = CHO_CP[code / 588];
            seq[m++] = JUNG_FIRST + (code % 588) / 28;
            if (fin) {
                int split = 0;
                for (int k = 0; k < 11 && !split; k++)
                    if (FINAL_PAIRS[k][2] == JONG_CP[fin]) {
                        seq[m++] = FINAL_PAIRS[k][0];
                        seq[m++] = FINAL_PAIRS[k][1];
                        split = 1;
                    }
                if (!split)
                    seq[m++] = JONG_CP[fin];
            }
        } else {
            seq[m++] = c;
        }
    }
    PyMem_Free(text);
    Py_ssize_t i = 0, w = 0;
    while (i < m) {
        Py_UCS4 c = seq[i];
        int ci = cho_index(c);
        if (ci >= 0 && i + 1 < m && is_vowel(seq[i + 1])) {
            Py_UCS4 vowel = seq[i + 1], joined;
            i += 2;
            if (i < m && (joined = pair_of(VOWEL_PAIRS, 7, vowel, seq[i])) != 0) {
                vowel = joined;
                i++;
            }
            int fi = 0;
            if (i < m && jong_index(seq[i]) > 0 && !(i + 1 < m && is_vowel(seq[i + 1]))) {
                Py_UCS4 fin = seq[i++];
                if (i < m && (joined = pair_of(FINAL_PAIRS, 11, fin, seq[i])) != 0 && !(i + 1 < m && is_vowel(seq[i + 1]))) {
                    fin = joined;
                    i++;
                }
                fi = jong_index(fin);
            }
            out[w++] = SYL_FIRST + ((Py_UCS4)ci * 21 + (vowel - JUNG_FIRST)) * 28 + (Py_UCS4)fi;
        } else {
            out[w++] = c;
            i++;
        }
    }
    PyMem_Free(seq);
    PyObject *res = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out, w);
    PyMem_Free(out);
    return res;
}

/* ------------------------------------------------------------------ */
/* Language detection (_lang.py).                                      */

static PyObject *LANG_STR[4]; /* "ja", "ko", "mixed", "other" */

static int detect_buf(const Py_UCS4 *s, Py_ssize_t n)
{
    int hangul = 0, kana = 0, kanji = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = s[i];
        if ((c >= 0xAC00 && c <= 0xD7A3) || (c >= 0x3131 && c <= 0x318E) || (c >= 0x1100 && c <= 0x11FF))
            hangul = 1;
        else if ((c >= 0x3041 && c <= 0x309F) || (c >= 0x30A0 && c <= 0x30FF) || (c >= 0x31F0 && c <= 0x31FF) ||
                 (c >= 0xFF66 && c <= 0xFF9F))
            kana = 1;
        else if ((c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF))
            kanji = 1;
    }
    if (hangul)
        return kana ? 2 : 1;
    if (kana || kanji)
        return 0;
    return 3;
}

static PyObject *py_detect_language(PyObject *self, PyObject *arg)
{
    Py_ssize_t n;
    Py_UCS4 *buf = str_arg_ucs4(arg, "detect_language", &n);
    if (buf == NULL)
        return NULL;
    int lang = detect_buf(buf, n);
    PyMem_Free(buf);
    Py_INCREF(LANG_STR[lang]);
    return LANG_STR[lang];
}

/* ------------------------------------------------------------------ */
/* The normal-form pre-check.                                          */

#define MAX_QUERY_CHARS 256

static inline int plain_letter(Py_UCS4 c)
{
    /* Letters every normalize() rule leaves alone on their own: NFKC-stable,
     * caseless or lowercase ASCII, no width variants, no vowel jamo; 々 (U+3005)
     * is a letter to \w but not one of _CJK's, so no mark beside it is wedged. */
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 0x3041 && c <= 0x3096) ||
           (c >= 0x30A1 && c <= 0x30FA) || c == 0x30FC || c == 0x3005 || (c >= 0x4E00 && c <= 0x9FFF) ||
           (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0x3131 && c <= 0x314E && c != 0x3140 && c != 0x3144);
    /* ㅀ and ㅄ: NFKC turns them into old-Hangul conjoining jamo that _CONJOINING_TO_COMPAT does not map back. */
}

static inline int plain_mark(Py_UCS4 c)
{
    /* Punctuation NFKC keeps; "@" and "$" are leetspeak and "_" is a word character. */
    if (c == '$' || c == '@' || c == '_')
        return 0;
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E) ||
           c == 0x3001 || c == 0x3002 || c == 0x30FB;
}

/* _CJK of _normalize.py: the letters between which a mark is padding. */
static inline int cjk_letter(Py_UCS4 c)
{
    return (c >= 0x3041 && c <= 0x3096) || (c >= 0x30A1 && c <= 0x30FA) || c == 0x30FC || (c >= 0x4E00 && c <= 0x9FFF) ||
           (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0x3131 && c <= 0x3163);
}

static inline int leet_digit(Py_UCS4 c)
{
    return c == '0' || c == '1' || c == '3' || c == '4' || c == '5' || c == '7' || c == '9';
}

/* _HANGUL of _normalize.py and _lexicon.py: syllables and compatibility jamo up to U+3163. */
static inline int hangul_letter(Py_UCS4 c)
{
    return (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0x3131 && c <= 0x3163);
}

/* The shortest Latin word _undo_qwerty converts: 3 letters in a text with Hangul, else 4. */
static Py_ssize_t qwerty_min_len(const Py_UCS4 *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (hangul_letter(s[i]))
            return 3;
    return 4;
}

/* latin_ok(word) for the Latin word s[0:n]: 1 when the QWERTY rule keeps it, 0 when not, -1 on error. */
static int latin_keeps(PyObject *latin_ok, const Py_UCS4 *s, Py_ssize_t n)
{
    PyObject *word = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, s, n);
    if (word == NULL)
        return -1;
    PyObject *ok = PyObject_CallOneArg(latin_ok, word);
    Py_DECREF(word);
    if (ok == NULL)
        return -1;
    int truth = PyObject_IsTrue(ok);
    Py_DECREF(ok);
    return truth;
}

/* 1 when normalize() is sure to return s unchanged, 0 when it may not.
 * latin_ok, if given, is asked about each Latin word the QWERTY rule reads (3+ letters with Hangul in the text, else 4+)
 * (the QWERTY rule needs a dictionary); without it such words answer 0. */
static int is_normal_buf(const Py_UCS4 *s, Py_ssize_t n, PyObject *latin_ok)
{
    if (n == 0)
        return 1;
    if (n > MAX_QUERY_CHARS || s[0] == ' ' || s[n - 1] == ' ')
        return 0;
    /* squeeze(): a character four or more times in a row is cut to three, and
     * a run of four or more symbols and blanks ([\W_]{4,}) is rewritten. */
    Py_ssize_t same = 0, marks = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = s[i];
        Py_UCS4 prev = i > 0 ? s[i - 1] : 0;
        same = c == prev ? same + 1 : 1;
        marks = (c == ' ' || plain_mark(c)) ? marks + 1 : 0;
        if (same >= 4 || marks >= 4)
            return 0;
        if (c == ' ') {
            if (prev == ' ')
                return 0; /* _SPACES squeezes runs */
            continue;
        }
        if (plain_mark(c)) {
            /* _WEDGED_SEPARATOR: a run of marks between two CJK letters goes. */
            if (i > 0 && !plain_mark(prev) && cjk_letter(prev)) {
                Py_ssize_t j = i;
                while (j < n && plain_mark(s[j]))
                    j++;
                if (j < n && cjk_letter(s[j]))
                    return 0;
            }
            continue;
        }
        if (!plain_letter(c))
            return 0;
        /* compose_jamo: a loose consonant right after a syllable joins it as its final. */
        if (c >= 0x3131 && c <= 0x314E && prev >= 0xAC00 && prev <= 0xD7A3)
            return 0;
        /* Leetspeak (_LEET_RUN): a run of 0134579 between two Latin letters ("@" and "$" never pass). */
        if (leet_digit(c) && prev >= 'a' && prev <= 'z') {
            Py_ssize_t j = i;
            while (j < n && leet_digit(s[j]))
                j++;
            if (j < n && s[j] >= 'a' && s[j] <= 'z')
                return 0;
        }
        /* Look-alikes of 死: タヒ, and 氏/市/4 before ね, ぬ, ん or に (either script). */
        if (i + 1 < n) {
            Py_UCS4 d = s[i + 1];
            if (c == 0x30BF && d == 0x30D2)
                return 0;
            if ((c == 0x6C0F || c == 0x5E02 || c == '4') &&
                (d == 0x306D || d == 0x30CD || d == 0x306C || d == 0x30CC || d == 0x3093 || d == 0x30F3 ||
                 d == 0x306B || d == 0x30CB))
                return 0;
        }
    }
    /* _SPACED_LETTERS joins three or more one-letter words in a row. */
    Py_ssize_t run = 0, len = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        if (i == n || s[i] == ' ') {
            run = len == 1 ? run + 1 : 0;
            if (run >= 3)
                return 0;
            len = 0;
        } else {
            len++;
        }
    }
    /* _undo_qwerty reads Latin words of 3+ letters (4+ without Hangul) as Korean typed in English mode. */
    Py_ssize_t min_len = qwerty_min_len(s, n);
    for (Py_ssize_t i = 0; i < n;) {
        if (!(s[i] >= 'a' && s[i] <= 'z')) {
            i++;
            continue;
        }
        Py_ssize_t j = i;
        while (j < n && s[j] >= 'a' && s[j] <= 'z')
            j++;
        if (j - i >= min_len) {
            if (latin_ok == NULL)
                return 0;
            int truth = latin_keeps(latin_ok, s + i, j - i);
            if (truth <= 0)
                return truth;
        }
        i = j;
    }
    return 1;
}

/* The two rewrites that send most queries the pre-check refuses to Python:
 * ASCII capitals (LGBT, Jリーグ) and punctuation between two CJK letters
 * (退屈だったので、気分転換). Rewrites s[0:*n] in place, lowering A-Z and
 * dropping each maximal run of plain marks that has a CJK letter on both
 * sides (_WEDGED_SEPARATOR), and returns 1 when normalize() of the original
 * is sure to give the result: the rewritten text passes the pre-check (so it
 * is a fixed point) and no other rule could have acted on the original
 * first. The QWERTY rule reads Latin words before they are lowered, so every
 * Latin word it reads (3+ letters with Hangul, else 4+) holding a capital is put to latin_ok as typed.
 * 0 when unsure (s is then garbage: callers keep their own copy), -1 on error.
 *
 * Why that suffices: plain marks and A-Z are NFKC-stable, no rule before the
 * lowering reads case except QWERTY, and a wedged run of plain marks is
 * exactly a match of _WEDGED_SEPARATOR (every other non-letter makes the
 * pre-check refuse the result); a padding run squeeze() would cut first is
 * removed whole either way, and one it would rewrite with blanks is not
 * wedged, so it stays and the pre-check refuses it. */
static int near_normal_buf(Py_UCS4 *s, Py_ssize_t *n, PyObject *latin_ok)
{
    Py_ssize_t len = *n, w = 0;
    if (len == 0 || len > MAX_QUERY_CHARS || latin_ok == NULL)
        return 0;
    Py_UCS4 prev = 0; /* the original character before s[i] */
    Py_ssize_t min_len = qwerty_min_len(s, len);
    for (Py_ssize_t i = 0; i < len;) {
        Py_UCS4 c = s[i];
        if (plain_mark(c) && cjk_letter(prev)) {
            Py_ssize_t j = i;
            while (j < len && plain_mark(s[j]))
                j++;
            if (j < len && cjk_letter(s[j])) {
                prev = s[j - 1];
                i = j; /* wedged: dropped */
                continue;
            }
        }
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
            Py_ssize_t j = i, caps = 0;
            while (j < len && ((s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= 'a' && s[j] <= 'z'))) {
                caps += s[j] <= 'Z';
                j++;
            }
            if (caps && j - i >= min_len) {
                int truth = latin_keeps(latin_ok, s + i, j - i);
                if (truth <= 0)
                    return truth;
            }
            for (; i < j; i++) {
                Py_UCS4 d = s[i];
                s[w++] = d <= 'Z' ? d + ('a' - 'A') : d;
            }
            prev = 'a'; /* a Latin letter, never CJK */
            continue;
        }
        s[w++] = c;
        prev = c;
        i++;
    }
    *n = w;
    return is_normal_buf(s, w, latin_ok);
}

/* near_normal(text, latin_ok): normalize(text) where near_normal_buf is sure of it, else None (for tests). */
static PyObject *py_near_normal(PyObject *self, PyObject *args)
{
    PyObject *arg, *latin_ok;
    if (!PyArg_ParseTuple(args, "OO:near_normal", &arg, &latin_ok))
        return NULL;
    if (!PyCallable_Check(latin_ok)) {
        PyErr_SetString(PyExc_TypeError, "near_normal: latin_ok must be callable");
        return NULL;
    }
    Py_ssize_t n;
    Py_UCS4 *buf = str_arg_ucs4(arg, "near_normal", &n);
    if (buf == NULL)
        return NULL;
    int ok = near_normal_buf(buf, &n, latin_ok);
    PyObject *out = ok > 0 ? PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, n) : NULL;
    PyMem_Free(buf);
    if (ok < 0)
        return NULL;
    if (ok == 0)
        Py_RETURN_NONE;
    return out;
}

/* is_normal(text, latin_ok=None): the pre-check alone (see is_normal_buf). */
static PyObject *py_is_normal(PyObject *self, PyObject *args)
{
    PyObject *arg, *latin_ok = Py_None;
    if (!PyArg_ParseTuple(args, "O|O:is_normal", &arg, &latin_ok))
        return NULL;
    if (latin_ok != Py_None && !PyCallable_Check(latin_ok)) {
        PyErr_SetString(PyExc_TypeError, "is_normal: latin_ok must be None or callable");
        return NULL;
    }
    Py_ssize_t n;
    Py_UCS4 *buf = str_arg_ucs4(arg, "is_normal", &n);
    if (buf == NULL)
        return NULL;
    int ok = is_normal_buf(buf, n, latin_ok == Py_None ? NULL : latin_ok);
    PyMem_Free(buf);
    if (ok < 0)
        return NULL;
    return PyBool_FromLong(ok);
}

/* Whether str s holds exactly the n code points of buf. */
static int same_text(PyObject *s, const Py_UCS4 *buf, Py_ssize_t n)
{
    if (PyUnicode_GET_LENGTH(s) != n)
        return 0;
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyUnicode_READ(kind, data, i) != buf[i])
            return 0;
    return 1;
}

/* views(query, normalize, latin_ok) -> (surface, folded_words, folded, lang).
 * normalize is the Python reference, called only when the pre-check fails;
 * latin_ok(word) says whether the QWERTY rule leaves a Latin word alone. */
static PyObject *views_impl(PyObject *query, PyObject *normalize, PyObject *latin_ok)
{
    PyObject *surface;
    Py_UCS4 *buf = NULL; /* the surface's code points, when they are at hand */
    Py_ssize_t n = 0;
    if (query == Py_None || (PyUnicode_Check(query) && PyUnicode_GET_LENGTH(query) == 0)) {
        surface = PyUnicode_New(0, 0);
    } else if (!PyUnicode_Check(query)) {
        PyErr_Format(PyExc_TypeError, "views() takes a str or None; got %.100s", Py_TYPE(query)->tp_name);
        return NULL;
    } else {
        buf = ucs4_copy(query, &n);
        if (buf == NULL)
            return NULL;
        int ok = is_normal_buf(buf, n, latin_ok);
        int near = 0;
        if (ok == 0) {
            near = near_normal_buf(buf, &n, latin_ok);
            if (near < 0) {
                PyMem_Free(buf);
                return NULL;
            }
        }
        if (ok < 0) {
            PyMem_Free(buf);
            return NULL;
        }
        if (ok) {
            Py_INCREF(query);
            surface = query; /* buf holds it already */
        } else if (near > 0) {
            surface = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, n); /* normalize(query), in C */
            if (surface == NULL) {
                PyMem_Free(buf);
                return NULL;
            }
        } else {
            PyMem_Free(buf);
            buf = NULL;
            surface = PyObject_CallOneArg(normalize, query);
            if (surface == NULL)
                return NULL;
            if (!PyUnicode_Check(surface)) {
                Py_DECREF(surface);
                PyErr_SetString(PyExc_TypeError, "normalize() must return a str");
                return NULL;
            }
        }
    }
    if (buf == NULL) {
        buf = ucs4_copy(surface, &n);
        if (buf == NULL) {
            Py_DECREF(surface);
            return NULL;
        }
    }
    int lang = detect_buf(buf, n);
    Py_ssize_t nw = fold_words_buf(buf, n);
    /* Most queries fold to themselves, and most have no space: reuse the str then. */
    PyObject *words;
    if (same_text(surface, buf, nw)) {
        Py_INCREF(surface);
        words = surface;
    } else {
        words = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, nw);
    }
    Py_ssize_t nf = join_words_buf(buf, nw);
    PyObject *folded;
    if (words != NULL && nf == nw) {
        Py_INCREF(words);
        folded = words;
    } else {
        folded = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, nf);
    }
    PyMem_Free(buf);
    PyObject *out = words == NULL || folded == NULL ? NULL : PyTuple_New(4);
    if (out == NULL) {
        Py_XDECREF(words);
        Py_XDECREF(folded);
        Py_DECREF(surface);
        return NULL;
    }
    Py_INCREF(LANG_STR[lang]);
    PyTuple_SET_ITEM(out, 0, surface);
    PyTuple_SET_ITEM(out, 1, words);
    PyTuple_SET_ITEM(out, 2, folded);
    PyTuple_SET_ITEM(out, 3, LANG_STR[lang]);
    return out;
}

static PyObject *py_views(PyObject *self, PyObject *args)
{
    PyObject *query, *normalize, *latin_ok = NULL;
    if (!PyArg_ParseTuple(args, "OO|O:views", &query, &normalize, &latin_ok))
        return NULL;
    return views_impl(query, normalize, latin_ok == Py_None ? NULL : latin_ok);
}

/* ------------------------------------------------------------------ */
/* WordTable: a bounded table of word -> value (MeCab's output of the word).
 *
 * The compiled path looks up every word of every query here. In a dict of
 * 100,000 words each look-up missed the cache three times (the index, the
 * entry, the key's str to compare), and those misses were 13 % of score_batch
 * (profiled). Here a slot is one 64-byte line holding a hash tag, the key's
 * code points in the str's own canonical width and the value, so a hit reads
 * one line, and a word of a query is looked up without making a str of it.
 *
 * Semantics follow searchsafe._tokenize._WordTable: two generations of at
 * most per_generation words (when the young one is full it becomes the old
 * one; a word found in the old one is copied back), and words too long for a
 * slot kept only among the last few (recent), so peek() finds the word a
 * query has just computed. It only memoizes: what it returns is always what
 * compute(word) returned for that word. Every operation holds the GIL. */

/* What is left of a 64-byte line after the tag, kind, length and value: 48 bytes on 64-bit platforms. */
#define WT_KEY_BYTES (56 - (int)sizeof(PyObject *))

typedef struct {
    uint32_t tag;   /* 0: empty; else the key's hash with the top bit set */
    uint8_t kind;   /* the key's canonical PyUnicode kind: 1, 2 or 4 */
    uint8_t len;    /* its length in code points */
    uint16_t unused;
    PyObject *value;
    unsigned char key[WT_KEY_BYTES];
} WTSlot;
typedef char wt_slot_is_one_cache_line[sizeof(WTSlot) == 64 ? 1 : -1];

typedef struct {
    WTSlot *slots; /* NULL until the first insert; aligned to a cache line */
    void *block;   /* what was allocated, for free() */
    size_t mask;
    Py_ssize_t used;
} WTGen;

typedef struct {
    PyObject_HEAD
    WTGen young, old;
    Py_ssize_t per_generation, max_chars, recent_max;
    size_t capacity; /* slots per generation, a power of two */
    PyObject *recent; /* dict: words that do not fit a slot */
} WordTableObject;

typedef struct {
    uint32_t tag;
    uint8_t kind, len;
    unsigned char key[WT_KEY_BYTES];
} WTKey;

static PyTypeObject WordTableType;

/* The key of text[start:end] in canonical width (the width of a str holding
 * only those code points), so equal words give equal bytes whatever the
 * width of the text they stand in. 0 when it does not fit a slot. */
static int wt_key(int kind, const void *data, Py_ssize_t start, Py_ssize_t end, Py_ssize_t max_chars, WTKey *k)
{
    Py_ssize_t n = end - start;
    if (n <= 0 || n > max_chars || n > WT_KEY_BYTES)
        return 0;
    Py_UCS4 maxc = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c > maxc)
            maxc = c;
    }
    int ck = maxc < 0x100 ? 1 : maxc < 0x10000 ? 2 : 4;
    if (n * ck > WT_KEY_BYTES)
        return 0;
    memset(k->key, 0, WT_KEY_BYTES);
    if (ck == kind) {
        memcpy(k->key, (const char *)data + start * kind, (size_t)(n * kind));
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, start + i);
            if (ck == 1)
                k->key[i] = (unsigned char)c;
            else if (ck == 2)
                ((uint16_t *)k->key)[i] = (uint16_t)c;
            else
                ((uint32_t *)k->key)[i] = (uint32_t)c;
        }
    }
    /* FNV-1a over the key's bytes, width and length, then murmur3's finalizer. */
    uint32_t h = 2166136261u ^ (uint32_t)(ck * 256 + n);
    for (Py_ssize_t i = 0; i < n * ck; i++)
        h = (h ^ k->key[i]) * 16777619u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    k->tag = h | 0x80000000u;
    k->kind = (uint8_t)ck;
    k->len = (uint8_t)n;
    return 1;
}

static WTSlot *wt_find(const WTGen *g, const WTKey *k)
{
    if (g->slots == NULL)
        return NULL;
    for (size_t i = k->tag & g->mask;; i = (i + 1) & g->mask) {
        WTSlot *s = &g->slots[i];
        if (s->tag == 0)
            return NULL;
        if (s->tag == k->tag && s->kind == k->kind && s->len == k->len &&
            memcmp(s->key, k->key, WT_KEY_BYTES) == 0)
            return s;
    }
}

static void wt_gen_free(WTGen *g)
{
    if (g->slots != NULL) {
        WTSlot *slots = g->slots;
        void *block = g->block;
        size_t cap = g->mask + 1;
        g->slots = NULL;
        g->block = NULL;
        g->used = 0;
        for (size_t i = 0; i < cap; i++)
            if (slots[i].tag != 0)
                Py_DECREF(slots[i].value);
        PyMem_RawFree(block);
    }
}

/* Stores value under k in the young generation (a new reference is taken),
 * turning a full young generation into the old one first. 0, or -1 with
 * MemoryError. */
static int wt_store(WordTableObject *t, const WTKey *k, PyObject *value)
{
    WTSlot *s = wt_find(&t->young, k);
    if (s != NULL) {
        Py_INCREF(value);
        Py_SETREF(s->value, value);
        return 0;
    }
    if (t->young.used >= t->per_generation) {
        WTGen gone = t->old;
        t->old = t->young;
        t->young.slots = NULL;
        t->young.block = NULL;
        t->young.used = 0;
        wt_gen_free(&gone); /* last: a value's dealloc then finds the table consistent */
    }
    if (t->young.slots == NULL) {
        /* One slot per cache line: a slot across two lines would miss twice. */
        void *block = PyMem_RawCalloc(t->capacity + 1, sizeof(WTSlot));
        if (block == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        t->young.block = block;
        t->young.slots = (WTSlot *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
        t->young.mask = t->capacity - 1;
    }
    size_t i = k->tag & t->young.mask;
    while (t->young.slots[i].tag != 0)
        i = (i + 1) & t->young.mask;
    s = &t->young.slots[i];
    s->tag = k->tag;
    s->kind = k->kind;
    s->len = k->len;
    memcpy(s->key, k->key, WT_KEY_BYTES);
    Py_INCREF(value);
    s->value = value;
    t->young.used++;
    return 0;
}

/* The value of text[start:end]: a new reference. compute (a callable) makes
 * it for a word the table lacks; with compute NULL, a missing word gives
 * NULL with no error set (peek). */
static PyObject *wt_lookup(WordTableObject *t, PyObject *text, Py_ssize_t start, Py_ssize_t end, PyObject *compute)
{
    WTKey k;
    if (wt_key(PyUnicode_KIND(text), PyUnicode_DATA(text), start, end, t->max_chars, &k)) {
        WTSlot *s = wt_find(&t->young, &k);
        if (s != NULL) {
            Py_INCREF(s->value);
            return s->value;
        }
        s = wt_find(&t->old, &k);
        PyObject *v;
        if (s != NULL) {
            v = s->value;
            Py_INCREF(v);
            if (compute == NULL)
                return v; /* peek moves nothing */
        } else {
            if (compute == NULL)
                return NULL;
            PyObject *word = PyUnicode_Substring(text, start, end);
            if (word == NULL)
                return NULL;
            v = PyObject_CallOneArg(compute, word);
            Py_DECREF(word);
            if (v == NULL)
                return NULL;
        }
        if (wt_store(t, &k, v) < 0) {
            Py_DECREF(v);
            return NULL;
        }
        return v;
    }
    /* Too long for a slot: pasted text or an attack, which does not recur. */
    PyObject *word = PyUnicode_Substring(text, start, end);
    if (word == NULL)
        return NULL;
    PyObject *v = PyDict_GetItemWithError(t->recent, word);
    if (v != NULL || PyErr_Occurred() || compute == NULL) {
        Py_XINCREF(v);
        Py_DECREF(word);
        return v;
    }
    v = PyObject_CallOneArg(compute, word);
    if (v != NULL) {
        if (PyDict_GET_SIZE(t->recent) >= t->recent_max)
            PyDict_Clear(t->recent);
        if (PyDict_SetItem(t->recent, word, v) < 0)
            Py_CLEAR(v);
    }
    Py_DECREF(word);
    return v;
}

static PyObject *wt_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"per_generation", "max_chars", "recent", NULL};
    Py_ssize_t per_generation, max_chars = 24, recent_max = 64;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n|nn:WordTable", kwlist, &per_generation, &max_chars,
                                     &recent_max))
        return NULL;
    if (per_generation < 1 || per_generation > (1 << 26)) {
        PyErr_Format(PyExc_ValueError, "WordTable: per_generation must be 1 to %d; got %zd", 1 << 26, per_generation);
        return NULL;
    }
    if (max_chars < 0 || recent_max < 1) {
        PyErr_SetString(PyExc_ValueError, "WordTable: max_chars must be >= 0 and recent >= 1");
        return NULL;
    }
    WordTableObject *t = (WordTableObject *)type->tp_alloc(type, 0);
    if (t == NULL)
        return NULL;
    /* At most 4/5 full, so a probe for a missing word stays short. */
    size_t cap = 8;
    while (cap * 4 < (size_t)per_generation * 5)
        cap <<= 1;
    t->capacity = cap;
    t->per_generation = per_generation;
    t->max_chars = max_chars;
    t->recent_max = recent_max;
    t->recent = PyDict_New();
    if (t->recent == NULL) {
        Py_DECREF(t);
        return NULL;
    }
    return (PyObject *)t;
}

static void wt_dealloc(WordTableObject *t)
{
    wt_gen_free(&t->young);
    wt_gen_free(&t->old);
    Py_XDECREF(t->recent);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyObject *wt_word_arg(PyObject *arg)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "WordTable: word must be str; got %.100s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    return arg;
}

static PyObject *wt_get(WordTableObject *t, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "WordTable.get(word, compute) takes two arguments");
        return NULL;
    }
    if (wt_word_arg(args[0]) == NULL)
        return NULL;
    return wt_lookup(t, args[0], 0, PyUnicode_GET_LENGTH(args[0]), args[1]);
}

static PyObject *wt_peek(WordTableObject *t, PyObject *word)
{
    if (wt_word_arg(word) == NULL)
        return NULL;
    PyObject *v = wt_lookup(t, word, 0, PyUnicode_GET_LENGTH(word), NULL);
    if (v == NULL && !PyErr_Occurred())
        Py_RETURN_NONE;
    return v;
}

static PyObject *wt_sizes(WordTableObject *t, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(nnn)", t->young.used, t->old.used, PyDict_GET_SIZE(t->recent));
}

static PyObject *wt_clear(WordTableObject *t, PyObject *Py_UNUSED(ignored))
{
    wt_gen_free(&t->young);
    wt_gen_free(&t->old);
    PyDict_Clear(t->recent);
    Py_RETURN_NONE;
}

static PyMethodDef wt_methods[] = {
    {"get", (PyCFunction)(void (*)(void))wt_get, METH_FASTCALL,
     "get(word, compute): the value stored for word, or compute(word), stored and returned."},
    {"peek", (PyCFunction)wt_peek, METH_O, "peek(word): the value stored for word, or None; computes nothing."},
    {"sizes", (PyCFunction)wt_sizes, METH_NOARGS, "sizes() -> (young, old, recent): words held in each part."},
    {"clear", (PyCFunction)wt_clear, METH_NOARGS, "Forget every word."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject WordTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "searchsafe._speedups.WordTable",
    .tp_basicsize = sizeof(WordTableObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "WordTable(per_generation, max_chars=24, recent=64): a bounded table of word -> value.",
    .tp_new = wt_new,
    .tp_dealloc = (destructor)wt_dealloc,
    .tp_methods = wt_methods,
};

/* MeCab's output of text read word by word through a table of words seen
 * before: spec is (table, parse), table a WordTable. Equals
 * " ".join(table.get(w, parse) for w in text.split()), reading each word's
 * slot straight from text. */
static PyObject *STR_SPACE;

/* The next whitespace-separated word of a str at or after *end, as
 * [*start, *end); 0 when there is none. The split str.split() makes. */
static inline int next_word(int kind, const void *data, Py_ssize_t n, Py_ssize_t *start, Py_ssize_t *end)
{
    Py_ssize_t i = *end;
    while (i < n && is_space(PyUnicode_READ(kind, data, i)))
        i++;
    if (i >= n)
        return 0;
    Py_ssize_t j = i;
    while (j < n && !is_space(PyUnicode_READ(kind, data, j)))
        j++;
    *start = i;
    *end = j;
    return 1;
}

static PyObject *word_raw(PyObject *spec, PyObject *text)
{
    PyObject *table = PyTuple_GET_ITEM(spec, 0), *parse = PyTuple_GET_ITEM(spec, 1);
    if (!PyObject_TypeCheck(table, &WordTableType)) {
        PyErr_Format(PyExc_TypeError, "prepare: a word spec's table must be a searchsafe._speedups.WordTable; got %.100s",
                     Py_TYPE(table)->tp_name);
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), i = 0, j = 0;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    PyObject *first = NULL, *parts = NULL, *out = NULL;
    while (next_word(kind, data, n, &i, &j)) {
        PyObject *v = wt_lookup((WordTableObject *)table, text, i, j, parse);
        if (v == NULL)
            goto done;
        if (!PyUnicode_Check(v)) {
            PyErr_Format(PyExc_TypeError, "prepare: a word's parse must be a str; got %.100s", Py_TYPE(v)->tp_name);
            Py_DECREF(v);
            goto done;
        }
        if (first == NULL && parts == NULL) {
            first = v; /* most queries are one word: no list, no join */
            continue;
        }
        if (parts == NULL) {
            parts = PyList_New(0);
            if (parts == NULL || PyList_Append(parts, first) < 0) {
                Py_DECREF(v);
                goto done;
            }
            Py_CLEAR(first);
        }
        int rc = PyList_Append(parts, v);
        Py_DECREF(v);
        if (rc < 0)
            goto done;
    }
    if (parts != NULL)
        out = PyUnicode_Join(STR_SPACE, parts);
    else if (first != NULL)
        out = Py_NewRef(first);
    else
        out = PyUnicode_New(0, 0);
done:
    Py_XDECREF(first);
    Py_XDECREF(parts);
    return out;
}

static inline int is_word_spec(PyObject *p)
{
    return PyTuple_Check(p) && PyTuple_GET_SIZE(p) == 2;
}

/* Memory-level parallelism for prepare(): the slots of a query's words
 * (stage 1) and then their values (stage 2) are fetched a few queries ahead,
 * so the cache misses of many look-ups overlap instead of queueing one by
 * one (each hit missed the cache twice: the slot, then the value's
 * refcount). Only hints: nothing is stored or computed. */
static void wt_prefetch_words(WordTableObject *t, PyObject *text, int stage)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), i = 0, j = 0;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    while (next_word(kind, data, n, &i, &j)) {
        WTKey k;
        if (t->young.slots == NULL || !wt_key(kind, data, i, j, t->max_chars, &k))
            continue;
        if (stage == 1) {
            PREFETCH(&t->young.slots[k.tag & t->young.mask]);
        } else {
            WTSlot *s = wt_find(&t->young, &k);
            if (s != NULL) {
                PREFETCH(s->value);
                PREFETCH((char *)s->value + 64);
            }
        }
    }
}

static void prefetch_parse(PyObject *p, PyObject *text, int stage)
{
    if (p == NULL || !is_word_spec(p))
        return;
    PyObject *a = PyTuple_GET_ITEM(p, 0), *b = PyTuple_GET_ITEM(p, 1);
    if (is_word_spec(a) && is_word_spec(b)) {
        prefetch_parse(a, text, stage);
        prefetch_parse(b, text, stage);
    } else if (PyObject_TypeCheck(a, &WordTableType)) {
        wt_prefetch_words((WordTableObject *)a, text, stage);
    }
}

/* A tokenizer of prepare(): a callable, a (table, parse) word spec, or for
 * mixed text a pair of word specs (Japanese, Korean) whose outputs are joined. */
static PyObject *run_parser(PyObject *p, PyObject *text)
{
    if (is_word_spec(p)) {
        PyObject *a = PyTuple_GET_ITEM(p, 0), *b = PyTuple_GET_ITEM(p, 1);
        if (is_word_spec(a) && is_word_spec(b)) {
            PyObject *ja = word_raw(a, text);
            if (ja == NULL)
                return NULL;
            PyObject *ko = word_raw(b, text);
            if (ko == NULL) {
                Py_DECREF(ja);
                return NULL;
            }
            PyObject *both = PyUnicode_FromFormat("%U %U", ja, ko);
            Py_DECREF(ja);
            Py_DECREF(ko);
            return both;
        }
        return word_raw(p, text);
    }
    return PyObject_CallOneArg(p, text);
}

/* The tokenizer for a query's language, or NULL where words are split on spaces. */
static PyObject *parser_of(PyObject *lg, PyObject **parsers)
{
    if (PyUnicode_CompareWithASCIIString(lg, "ja") == 0)
        return parsers[0];
    if (PyUnicode_CompareWithASCIIString(lg, "ko") == 0)
        return parsers[1];
    if (PyUnicode_CompareWithASCIIString(lg, "mixed") == 0)
        return parsers[2];
    return NULL;
}

/* How many queries ahead prepare() fetches word-table slots (stage 1) and values (stage 2). */
#define PREFETCH_SLOTS_AHEAD 12
#define PREFETCH_VALUES_AHEAD 6

/* prepare(queries, lang, normalize, latin_ok, parse_ja, parse_ko, parse_mixed) -> (items, folded, surfaces)
 *
 * The per-query Python part of the compiled path, as one loop in C: views,
 * then the tokenizer for the query's language (lang, if not None, forces
 * one). items[i] is None for a query with nothing to score, else
 * [lang, folded_words, folded, tokens] ready for logits(); folded lists the
 * folded text of the non-empty ones, for one sentencepiece call; surfaces[i]
 * is the normalized query (what the lexicon's morpheme positions read). */
static PyObject *py_prepare(PyObject *self, PyObject *args)
{
    PyObject *queries, *lang, *normalize, *latin_ok, *parsers[3];
    if (!PyArg_ParseTuple(args, "O!OOOOOO:prepare", &PyList_Type, &queries, &lang, &normalize, &latin_ok,
                          &parsers[0], &parsers[1], &parsers[2]))
        return NULL;
    if (lang != Py_None && !PyUnicode_Check(lang)) {
        PyErr_SetString(PyExc_TypeError, "lang must be None or a str");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(queries);
    PyObject *items = PyList_New(n), *folded_list = PyList_New(0), *surfaces = PyList_New(n);
    /* Every query's views first, so that the tokenizer loop can look ahead. */
    PyObject **vs = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof(PyObject *));
    if (items == NULL || folded_list == NULL || surfaces == NULL || vs == NULL) {
        if (vs == NULL)
            PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        vs[i] = views_impl(PyList_GET_ITEM(queries, i), normalize, latin_ok == Py_None ? NULL : latin_ok);
        if (vs[i] == NULL)
            goto fail;
        /* Four str, alive for the whole batch: untracked like the items below. */
        PyObject_GC_UnTrack(vs[i]);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        for (int stage = 1; stage <= 2; stage++) {
            Py_ssize_t a = i + (stage == 1 ? PREFETCH_SLOTS_AHEAD : PREFETCH_VALUES_AHEAD);
            if (a < n && PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(vs[a], 2)) > 0)
                prefetch_parse(parser_of(lang != Py_None ? lang : PyTuple_GET_ITEM(vs[a], 3), parsers),
                               PyTuple_GET_ITEM(vs[a], 0), stage);
        }
        PyObject *v = vs[i];
        PyObject *surface = PyTuple_GET_ITEM(v, 0), *folded = PyTuple_GET_ITEM(v, 2);
        Py_INCREF(surface);
        PyList_SET_ITEM(surfaces, i, surface);
        if (PyUnicode_GET_LENGTH(folded) == 0) {
            Py_INCREF(Py_None);
            PyList_SET_ITEM(items, i, Py_None);
            continue;
        }
        PyObject *lg = lang != Py_None ? lang : PyTuple_GET_ITEM(v, 3);
        PyObject *parser = parser_of(lg, parsers);
        PyObject *toks = parser != NULL ? run_parser(parser, surface) : PyUnicode_Split(surface, NULL, -1);
        PyObject *item = toks == NULL ? NULL : PyList_New(4);
        if (item == NULL || PyList_Append(folded_list, folded) < 0) {
            Py_XDECREF(toks);
            Py_XDECREF(item);
            goto fail;
        }
        Py_INCREF(lg);
        PyList_SET_ITEM(item, 0, lg);
        Py_INCREF(PyTuple_GET_ITEM(v, 1));
        PyList_SET_ITEM(item, 1, PyTuple_GET_ITEM(v, 1));
        Py_INCREF(folded);
        PyList_SET_ITEM(item, 2, folded);
        PyList_SET_ITEM(item, 3, toks);
        /* It holds only str and lives until the batch is scored: tracked, a batch's
         * items outlive two collections and push the collector into full passes
         * over the whole heap (a third of prepare()'s time, profiled). */
        PyObject_GC_UnTrack(item);
        PyList_SET_ITEM(items, i, item);
    }
    for (Py_ssize_t i = 0; i < n; i++)
        Py_DECREF(vs[i]);
    PyMem_Free(vs);
    return Py_BuildValue("(NNN)", items, folded_list, surfaces);
fail:
    if (vs != NULL) {
        for (Py_ssize_t i = 0; i < n; i++)
            Py_XDECREF(vs[i]);
        PyMem_Free(vs);
    }
    Py_XDECREF(items);
    Py_XDECREF(folded_list);
    Py_XDECREF(surfaces);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* logits(): features, hashing, gather, sum.                            */

/* All text of one batch, copied into one arena while the GIL is held, so
 * the feature loop can run without it. */
typedef struct {
    Py_UCS4 *buf;
    Py_ssize_t len, cap;
} Arena;

typedef struct {
    Py_ssize_t off, len;
} Span;

typedef struct {
    int32_t row; /* >= 0: a piece id already mapped to its row; -1: hash "p" + span */
    Span text;
} Piece;

typedef struct {
    int empty;
    Span lang, words, folded;
    Py_ssize_t tok_first, tok_count;
    Py_ssize_t piece_first, piece_count;
    Py_ssize_t extra_first, extra_count;
} Job;

typedef struct {
    void *p;
    Py_ssize_t len, cap;
    size_t item;
} Vec;

static int vec_reserve(Vec *v, Py_ssize_t extra)
{
    if (v->len + extra <= v->cap)
        return 0;
    Py_ssize_t cap = v->cap ? v->cap : 64;
    while (cap < v->len + extra)
        cap *= 2;
    void *p = realloc(v->p, (size_t)cap * v->item);
    if (p == NULL)
        return -1;
    v->p = p;
    v->cap = cap;
    return 0;
}

#define VEC_AT(v, T, i) (((T *)(v).p)[i])

/* How str.lower() is done: ASCII and caseless scripts here, anything else by Python. */
static inline int caseless(Py_UCS4 c)
{
    return (c >= 0x3040 && c <= 0x30FF) || (c >= 0x3130 && c <= 0x318F) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xFF66 && c <= 0xFF9F);
}

/* Append a str to the arena; mode 1 lowercases and folds katakana like the
 * morpheme features do. Surrogates cannot be UTF-8 encoded: refuse them as str.encode would. */
static int arena_add(Arena *a, PyObject *s, int mode, Span *out)
{
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "feature text must be str; got %.100s", Py_TYPE(s)->tp_name);
        return -1;
    }
    PyObject *owned = NULL;
    if (mode == 1) {
        int kind = PyUnicode_KIND(s);
        const void *data = PyUnicode_DATA(s);
        Py_ssize_t n = PyUnicode_GET_LENGTH(s);
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (c >= 0x80 && !caseless(c)) {
                owned = PyObject_CallMethod(s, "lower", NULL);
                if (owned == NULL)
                    return -1;
                s = owned;
                break;
            }
        }
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (a->len + n > a->cap) {
        Py_ssize_t cap = a->cap ? a->cap : 1024;
        while (cap < a->len + n)
            cap *= 2;
        Py_UCS4 *p = realloc(a->buf, (size_t)cap * sizeof(Py_UCS4));
        if (p == NULL) {
            Py_XDECREF(owned);
            PyErr_NoMemory();
            return -1;
        }
        a->buf = p;
        a->cap = cap;
    }
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_UCS4 *dst = a->buf + a->len;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0xD800 && c <= 0xDFFF) {
            Py_XDECREF(owned);
            PyErr_SetString(PyExc_ValueError, "feature text holds a lone surrogate, which UTF-8 cannot encode");
            return -1;
        }
        if (mode == 1) {
            if (c >= 'A' && c <= 'Z')
                c += 32;
            else if (c >= 0x30A1 && c <= 0x30F6)
                c -= 0x60;
        }
        dst[i] = c;
    }
    out->off = a->len;
    out->len = n;
    a->len += n;
    Py_XDECREF(owned);
    return 0;
}

/* Tokens from MeCab's output as one str: split on whitespace, the lemma taken
 * from "surface\x01lemma", "*" (no lemma) and empty lemmas dropped, each token
 * lowercased and folded as arena_add(mode 1) does; this is what _tokenize's
 * lemmas_of() and then the morpheme features do. */
static int arena_add_token_text(Arena *a, PyObject *s, Vec *toks, Py_ssize_t *count)
{
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_ssize_t n = PyUnicode_GET_LENGTH(s), i = 0;
    *count = 0;
    while (i < n) {
        while (i < n && is_space(PyUnicode_READ(kind, data, i)))
            i++;
        Py_ssize_t start = i;
        while (i < n && !is_space(PyUnicode_READ(kind, data, i)))
            i++;
        if (i == start)
            break;
        /* "surface\x01lemma": the lemma is the token (see _tokenize.SURFACE_MARK). */
        for (Py_ssize_t j = i - 1; j >= start; j--)
            if (PyUnicode_READ(kind, data, j) == 0x01) {
                start = j + 1;
                break;
            }
        if (i == start)
            continue;
        if (i - start == 1 && PyUnicode_READ(kind, data, start) == '*')
            continue;
        PyObject *tok = PyUnicode_Substring(s, start, i);
        if (tok == NULL)
            return -1;
        if (vec_reserve(toks, 1) < 0) {
            Py_DECREF(tok);
            PyErr_NoMemory();
            return -1;
        }
        int rc = arena_add(a, tok, 1, &VEC_AT(*toks, Span, toks->len));
        Py_DECREF(tok);
        if (rc < 0)
            return -1;
        toks->len++;
        (*count)++;
    }
    return 0;
}

/* -- the sum in numpy's order ----------------------------------------- */

static inline const float *row_ptr(const float *W, int k, int32_t r) { return W + (Py_ssize_t)r * k; }

static void pairwise(const int32_t *r, Py_ssize_t n, const float *W, int k, float *res)
{
    if (n < 8) {
        for (int c = 0; c < k; c++)
            res[c] = 0.0f;
        for (Py_ssize_t i = 0; i < n; i++) {
            const float *w = row_ptr(W, k, r[i]);
            for (int c = 0; c < k; c++)
                res[c] += w[c];
        }
    } else if (n <= 128) {
        float acc[8][MAX_CATEGORIES];
        for (int j = 0; j < 8; j++) {
            const float *w = row_ptr(W, k, r[j]);
            for (int c = 0; c < k; c++)
                acc[j][c] = w[c];
        }
        Py_ssize_t i = 8;
        for (; i < n - (n % 8); i += 8) {
            for (int j = 0; j < 8; j++) {
                const float *w = row_ptr(W, k, r[i + j]);
                for (int c = 0; c < k; c++)
                    acc[j][c] += w[c];
            }
        }
        for (int c = 0; c < k; c++)
            res[c] = ((acc[0][c] + acc[1][c]) + (acc[2][c] + acc[3][c])) +
                     ((acc[4][c] + acc[5][c]) + (acc[6][c] + acc[7][c]));
        for (; i < n; i++) {
            const float *w = row_ptr(W, k, r[i]);
            for (int c = 0; c < k; c++)
                res[c] += w[c];
        }
    } else {
        Py_ssize_t n2 = n / 2;
        n2 -= n2 % 8;
        float b[MAX_CATEGORIES];
        pairwise(r, n2, W, k, res);
        pairwise(r + n2, n - n2, W, k, b);
        for (int c = 0; c < k; c++)
            res[c] += b[c];
    }
}

/* What np.add.reduceat(W[rows], [0], axis=0)[0] gives: rows[0] + pairwise(rest). */
static void reduceat_sum(const int32_t *r, Py_ssize_t n, const float *W, int k, float *out)
{
    const float *w0 = row_ptr(W, k, r[0]);
    if (n == 1) {
        for (int c = 0; c < k; c++)
            out[c] = w0[c];
        return;
    }
    float rest[MAX_CATEGORIES];
    pairwise(r + 1, n - 1, W, k, rest);
    for (int c = 0; c < k; c++)
        out[c] = w0[c] + rest[c];
}

static PyObject *py_reduceat_sum(PyObject *self, PyObject *args)
{
    /* For tests: the sum of the given rows of a float32 (R, k) matrix. */
    PyObject *wobj, *rows;
    if (!PyArg_ParseTuple(args, "OO:reduceat_sum", &wobj, &rows))
        return NULL;
    Py_buffer wb;
    if (PyObject_GetBuffer(wobj, &wb, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_ND) < 0)
        return NULL;
    PyObject *result = NULL;
    int32_t *r = NULL;
    if (wb.ndim != 2 || strcmp(wb.format, "f") != 0 || wb.shape[1] > MAX_CATEGORIES) {
        PyErr_SetString(PyExc_ValueError, "weights must be a C-contiguous float32 matrix of at most 64 columns");
        goto done;
    }
    Py_ssize_t n = PySequence_Length(rows);
    if (n <= 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "rows must not be empty");
        goto done;
    }
    r = malloc((size_t)n * sizeof(int32_t));
    if (r == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_GetItem(rows, i);
        if (item == NULL)
            goto done;
        long v = PyLong_AsLong(item);
        Py_DECREF(item);
        if (v == -1 && PyErr_Occurred())
            goto done;
        if (v < 0 || v >= wb.shape[0]) {
            PyErr_SetString(PyExc_IndexError, "row out of range");
            goto done;
        }
        r[i] = (int32_t)v;
    }
    int k = (int)wb.shape[1];
    float out[MAX_CATEGORIES];
    reduceat_sum(r, n, (const float *)wb.buf, k, out);
    result = PyList_New(k);
    if (result == NULL)
        goto done;
    for (int c = 0; c < k; c++)
        PyList_SET_ITEM(result, c, PyFloat_FromDouble((double)out[c]));
done:
    free(r);
    PyBuffer_Release(&wb);
    return result;
}

/* -- feature generation ------------------------------------------------ */

typedef struct {
    int word_mode; /* char_mode == "word" */
    int lo, hi;    /* char n-gram sizes */
    int cmin, cmax;
    int bigrams;
    uint32_t mask;
    int length_norm; /* 0: count / sqrt(total); 1: plain sum */
} Config;

typedef struct {
    const int32_t *row_of;
    Py_ssize_t row_of_len;
    Vec *rows; /* int32 rows of the current query */
} Sink;

/* Features are first recorded as buckets; rows already known (sentencepiece
 * ids) carry ROW_FLAG. Resolving buckets to rows later, after prefetching,
 * keeps the random reads of row_of and the weights overlapping. */
#define ROW_FLAG 0x80000000u
#define PUSH_ROW(sink, crcstate)                                                              \
    do {                                                                                      \
        uint32_t bucket_ = ((crcstate) ^ 0xFFFFFFFFu) & cfg->mask;                            \
        if (vec_reserve((sink)->rows, 1) < 0)                                                 \
            return -1;                                                                        \
        VEC_AT(*(sink)->rows, uint32_t, (sink)->rows->len++) = bucket_;                       \
    } while (0)

static const Py_UCS4 CHO[19] = {0x3131, 0x3132, 0x3134, 0x3137, 0x3138, 0x3139, 0x3141, 0x3142, 0x3143, 0x3145,
                                0x3146, 0x3147, 0x3148, 0x3149, 0x314A, 0x314B, 0x314C, 0x314D, 0x314E};

#define MAX_NGRAM 32

/* The buckets of the character n-grams lo..hi of one text, in the reference's
 * order: the 1-grams of the text, then the 2-grams of padded (the text with
 * one padding character each side), then the 3-grams, and so on. Each
 * n-gram's CRC continues the one a character shorter at the same start, so
 * every character is hashed once per start instead of once per n-gram. */
static int push_ngrams(const Config *cfg, Sink *sink, uint32_t pre, const Py_UCS4 *padded, Py_ssize_t L)
{
    Py_ssize_t end = L + 2, off[MAX_NGRAM + 1], total = 0;
    int hi = cfg->hi; /* at most MAX_NGRAM: logits() checks */
    for (int g = cfg->lo; g <= hi; g++) {
        Py_ssize_t n_g = g == 1 ? L : end - g + 1;
        off[g] = total;
        total += n_g > 0 ? n_g : 0;
    }
    if (vec_reserve(sink->rows, total) < 0)
        return -1;
    uint32_t *out = (uint32_t *)sink->rows->p + sink->rows->len;
    for (Py_ssize_t j = 0; j < end; j++) {
        uint32_t crc = pre;
        for (int g = 1; g <= hi && j + g <= end; g++) {
            crc = crc_cp(crc, padded[j + g - 1]);
            if (g < cfg->lo)
                continue;
            if (g > 1)
                out[off[g] + j] = (crc ^ 0xFFFFFFFFu) & cfg->mask;
            else if (j >= 1 && j <= L)
                out[off[1] + j - 1] = (crc ^ 0xFFFFFFFFu) & cfg->mask;
        }
    }
    sink->rows->len += total;
    return 0;
}

/* The rows of one query's features, in _features.FeatureExtractor._features' order. */
static int query_rows(const Config *cfg, const Job *job, const Py_UCS4 *A, const Span *toks, const Piece *pieces,
                      const Span *extras, const int32_t *piece_rows, Py_ssize_t n_piece_rows, Sink *sink,
                      Vec *scratch)
{
    const uint32_t INIT = 0xFFFFFFFFu;
    /* "l" + lang */
    PUSH_ROW(sink, crc_run(crc_byte(INIT, 'l'), A + job->lang.off, job->lang.len));

    if (cfg->word_mode) {
        const uint32_t pre = crc_byte(INIT, 'w');
        const Py_UCS4 *s = A + job->words.off;
        Py_ssize_t n = job->words.len, i = 0;
        if (vec_reserve(scratch, n + 2) < 0)
            return -1;
        Py_UCS4 *padded = (Py_UCS4 *)scratch->p;
        while (i < n) {
            while (i < n && is_space(s[i]))
                i++;
            Py_ssize_t start = i;
            while (i < n && !is_space(s[i]))
                i++;
            Py_ssize_t L = i - start;
            if (L == 0)
                break;
            padded[0] = ' ';
            memcpy(padded + 1, s + start, (size_t)L * sizeof(Py_UCS4));
            padded[L + 1] = ' ';
            if (push_ngrams(cfg, sink, pre, padded, L) < 0)
                return -1;
        }
    } else {
        const uint32_t pre = crc_byte(INIT, 'c');
        const Py_UCS4 *s = A + job->folded.off;
        Py_ssize_t L = job->folded.len;
        if (vec_reserve(scratch, L + 2) < 0)
            return -1;
        Py_UCS4 *padded = (Py_UCS4 *)scratch->p;
        padded[0] = '<';
        memcpy(padded + 1, s, (size_t)L * sizeof(Py_UCS4));
        padded[L + 1] = '>';
        if (push_ngrams(cfg, sink, pre, padded, L) < 0)
            return -1;
    }

    const uint32_t pre_m = crc_byte(INIT, 'm');
    for (Py_ssize_t t = 0; t < job->tok_count; t++) {
        const Span *sp = &toks[job->tok_first + t];
        PUSH_ROW(sink, crc_run(pre_m, A + sp->off, sp->len));
    }
    if (cfg->bigrams) {
        const uint32_t pre_b = crc_byte(INIT, 'b');
        for (Py_ssize_t t = 0; t + 1 < job->tok_count; t++) {
            const Span *a = &toks[job->tok_first + t], *b = &toks[job->tok_first + t + 1];
            uint32_t crc = crc_run(pre_b, A + a->off, a->len);
            crc = crc_byte(crc, ' ');
            PUSH_ROW(sink, crc_run(crc, A + b->off, b->len));
        }
    }

    const uint32_t pre_p = crc_byte(INIT, 'p');
    for (Py_ssize_t t = 0; t < job->piece_count; t++) {
        const Piece *p = &pieces[job->piece_first + t];
        if (vec_reserve(sink->rows, 1) < 0)
            return -1;
        if (p->row >= 0)
            VEC_AT(*sink->rows, uint32_t, sink->rows->len++) = (uint32_t)p->row | ROW_FLAG;
        else
            PUSH_ROW(sink, crc_run(pre_p, A + p->text.off, p->text.len));
    }

    /* lang is "ko" or "mixed": choseong n-grams of the folded query. */
    const Py_UCS4 *lg = A + job->lang.off;
    int korean = (job->lang.len == 2 && lg[0] == 'k' && lg[1] == 'o') ||
                 (job->lang.len == 5 && lg[0] == 'm' && lg[1] == 'i' && lg[2] == 'x' && lg[3] == 'e' && lg[4] == 'd');
    if (korean) {
        const Py_UCS4 *s = A + job->folded.off;
        Py_ssize_t L = job->folded.len, m = 0;
        if (vec_reserve(scratch, L + 2) < 0)
            return -1;
        Py_UCS4 *cho = (Py_UCS4 *)scratch->p;
        for (Py_ssize_t j = 0; j < L; j++) {
            Py_UCS4 c = s[j];
            if (is_hangul_syllable(c))
                cho[m++] = CHO[(c - 0xAC00) / 588];
            else if (c >= 0x3131 && c <= 0x314E)
                cho[m++] = c;
        }
        const uint32_t pre_k = crc_byte(INIT, 'k');
        for (int g = cfg->cmin; g <= cfg->cmax; g++)
            for (Py_ssize_t j = 0; j + g <= m; j++)
                PUSH_ROW(sink, crc_run(pre_k, cho + j, g));
    }

    for (Py_ssize_t t = 0; t < job->extra_count; t++) {
        const Span *sp = &extras[job->extra_first + t];
        PUSH_ROW(sink, crc_run(INIT, A + sp->off, sp->len));
    }
    (void)piece_rows;
    (void)n_piece_rows;
    return 0;
}

static int get_buffer(PyObject *obj, Py_buffer *b, const char *fmt, int ndim, int writable, const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_ND | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, b, flags) < 0)
        return -1;
    if (b->ndim != ndim || strcmp(b->format, fmt) != 0) {
        PyErr_Format(PyExc_ValueError, "%s must be a C-contiguous %d-d array of format '%s'", name, ndim, fmt);
        PyBuffer_Release(b);
        return -1;
    }
    return 0;
}

/* searchsafe._classifier._sigmoid for one float32 logit: in double, through
 * the C library's exp (which math.exp calls too), then rounded to float32.
 * exp(710) and beyond is inf here and 1 / (1 + inf) is 0, the limit the
 * Python side writes for any logit below -700 (whose result rounds to 0 in
 * float32 either way). */
static float sigmoid_of(float logit)
{
    return (float)(1.0 / (1.0 + exp(-(double)logit)));
}

/* logits(out, items, row_of, weights, bias, piece_rows, config)
 *
 * items[i] is None (an empty query: its row becomes -inf, whose sigmoid is 0)
 * or a tuple/list (lang, folded_words, folded, tokens[, pieces, extra]): tokens a list of
 * str, or MeCab's output as one str (read by arena_add_token_text); pieces None or a list of int (sentencepiece ids, mapped through
 * piece_rows) or str (hashed as "p" + piece); extra None or a list of str
 * hashed as they are, after every other feature. Keywords: pieces (one entry
 * per non-empty item, instead of item[4]), extra (one per item, instead of
 * item[5]), unk_id and unk_pieces (called with the folded text when a piece
 * list holds unk_id, returning the pieces as str), and sigmoid (write
 * sigmoid_of each logit, and 0 for an empty query). Returns how many items
 * were non-empty. */
static PyObject *py_logits(PyObject *self, PyObject *args, PyObject *kwargs)
{
    PyObject *out_obj, *items, *row_of_obj, *w_obj, *bias_obj, *piece_obj, *cfg_obj;
    PyObject *pieces_arg = Py_None, *extra_arg = Py_None, *unk_fn = Py_None;
    long unk_id = -1;
    int sigmoid = 0;
    static char *kwlist[] = {"out", "items", "row_of", "weights", "bias", "piece_rows", "config",
                             "pieces", "extra", "unk_id", "unk_pieces", "sigmoid", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOOOO|OOlOp:logits", kwlist, &out_obj, &items, &row_of_obj,
                                     &w_obj, &bias_obj, &piece_obj, &cfg_obj, &pieces_arg, &extra_arg, &unk_id,
                                     &unk_fn, &sigmoid))
        return NULL;
    if ((pieces_arg != Py_None && !PyList_Check(pieces_arg)) || (extra_arg != Py_None && !PyList_Check(extra_arg))) {
        PyErr_SetString(PyExc_TypeError, "pieces and extra must be None or lists");
        return NULL;
    }
    Config cfg;
    unsigned long mask;
    if (!PyArg_ParseTuple(cfg_obj, "iiiiiiki", &cfg.word_mode, &cfg.lo, &cfg.hi, &cfg.cmin, &cfg.cmax, &cfg.bigrams,
                          &mask, &cfg.length_norm))
        return NULL;
    cfg.mask = (uint32_t)mask;
    if (cfg.lo < 1 || cfg.hi < cfg.lo || cfg.hi > MAX_NGRAM || cfg.cmin < 1 || cfg.cmax < cfg.cmin) {
        /* FeatureConfig allows character n-grams up to 8. */
        PyErr_SetString(PyExc_ValueError, "n-gram sizes must satisfy 1 <= min <= max, and char n-grams max <= 32");
        return NULL;
    }
    if (!PyList_Check(items)) {
        PyErr_SetString(PyExc_TypeError, "items must be a list");
        return NULL;
    }
    Py_buffer ob, rb, wb, bb, pb;
    int have_pieces = piece_obj != Py_None;
    if (get_buffer(out_obj, &ob, "f", 2, 1, "out") < 0)
        return NULL;
    if (get_buffer(row_of_obj, &rb, "i", 1, 0, "row_of") < 0) {
        PyBuffer_Release(&ob);
        return NULL;
    }
    if (get_buffer(w_obj, &wb, "f", 2, 0, "weights") < 0) {
        PyBuffer_Release(&ob);
        PyBuffer_Release(&rb);
        return NULL;
    }
    if (get_buffer(bias_obj, &bb, "f", 1, 0, "bias") < 0) {
        PyBuffer_Release(&ob);
        PyBuffer_Release(&rb);
        PyBuffer_Release(&wb);
        return NULL;
    }
    if (have_pieces && get_buffer(piece_obj, &pb, "i", 1, 0, "piece_rows") < 0) {
        PyBuffer_Release(&ob);
        PyBuffer_Release(&rb);
        PyBuffer_Release(&wb);
        PyBuffer_Release(&bb);
        return NULL;
    }
    PyObject *result = NULL;
    PyObject *owned_pl = NULL; /* pieces returned by unk_pieces, held while copied */
    Py_ssize_t live = 0;       /* non-empty items seen */
    Arena arena = {0};
    Vec jobs = {.item = sizeof(Job)}, toks = {.item = sizeof(Span)}, pieces = {.item = sizeof(Piece)},
        extras = {.item = sizeof(Span)}, rows = {.item = sizeof(uint32_t)}, scratch = {.item = sizeof(Py_UCS4)};
    Py_ssize_t n = PyList_GET_SIZE(items);
    int k = (int)wb.shape[1];
    const int32_t *row_of = (const int32_t *)rb.buf;
    const int32_t *piece_rows = have_pieces ? (const int32_t *)pb.buf : NULL;
    Py_ssize_t n_piece_rows = have_pieces ? pb.shape[0] : 0;
    if (ob.shape[0] != n || ob.shape[1] != k || bb.shape[0] != k || k > MAX_CATEGORIES || k < 1) {
        PyErr_SetString(PyExc_ValueError, "out must be (len(items), k), weights (rows, k), bias (k,), 1 <= k <= 64");
        goto done;
    }
    if ((Py_ssize_t)cfg.mask >= rb.shape[0]) {
        PyErr_SetString(PyExc_ValueError, "row_of must cover the hash space (mask + 1 entries)");
        goto done;
    }
    if (vec_reserve(&jobs, n) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    /* Phase 1, with the GIL: copy every query's text into the arena. */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = PyList_GET_ITEM(items, i);
        Job *job = &VEC_AT(jobs, Job, i);
        memset(job, 0, sizeof(*job));
        jobs.len = i + 1;
        if (it == Py_None) {
            job->empty = 1;
            continue;
        }
        Py_ssize_t width = PyTuple_Check(it) ? PyTuple_GET_SIZE(it) : PyList_Check(it) ? PyList_GET_SIZE(it) : -1;
        if (width != 4 && width != 6) {
            PyErr_SetString(PyExc_TypeError, "each item must be None or a tuple or list of 4 or 6 fields");
            goto done;
        }
        PyObject **f = PySequence_Fast_ITEMS(it);
        if (arena_add(&arena, f[0], 0, &job->lang) < 0 || arena_add(&arena, f[1], 0, &job->words) < 0 ||
            arena_add(&arena, f[2], 0, &job->folded) < 0)
            goto done;
        PyObject *tl = f[3];
        job->tok_first = toks.len;
        if (PyUnicode_Check(tl)) {
            if (arena_add_token_text(&arena, tl, &toks, &job->tok_count) < 0)
                goto done;
        } else if (PyList_Check(tl)) {
            Py_ssize_t nt = PyList_GET_SIZE(tl);
            if (vec_reserve(&toks, nt) < 0) {
                PyErr_NoMemory();
                goto done;
            }
            job->tok_count = nt;
            for (Py_ssize_t t = 0; t < nt; t++) {
                if (arena_add(&arena, PyList_GET_ITEM(tl, t), 1, &VEC_AT(toks, Span, toks.len)) < 0)
                    goto done;
                toks.len++;
            }
        } else {
            PyErr_SetString(PyExc_TypeError, "tokens must be a list of str or MeCab's output as one str");
            goto done;
        }
        PyObject *pl = width == 6 ? f[4] : Py_None;
        if (pieces_arg != Py_None) {
            if (live >= PyList_GET_SIZE(pieces_arg)) {
                PyErr_SetString(PyExc_ValueError, "pieces must hold one entry per non-empty item");
                goto done;
            }
            pl = PyList_GET_ITEM(pieces_arg, live);
        }
        live++;
        if (unk_fn != Py_None && PyList_Check(pl)) {
            /* An unknown piece's text is the query's own characters, not one id's piece. */
            for (Py_ssize_t t = 0; t < PyList_GET_SIZE(pl); t++) {
                PyObject *p = PyList_GET_ITEM(pl, t);
                if (PyLong_Check(p) && PyLong_AsLong(p) == unk_id) {
                    owned_pl = PyObject_CallOneArg(unk_fn, f[2]);
                    if (owned_pl == NULL)
                        goto done;
                    pl = owned_pl;
                    break;
                }
            }
        }
        job->piece_first = pieces.len;
        if (pl != Py_None) {
            if (!PyList_Check(pl)) {
                PyErr_SetString(PyExc_TypeError, "pieces must be None or a list");
                goto done;
            }
            Py_ssize_t np_ = PyList_GET_SIZE(pl);
            if (vec_reserve(&pieces, np_) < 0) {
                PyErr_NoMemory();
                goto done;
            }
            job->piece_count = np_;
            for (Py_ssize_t t = 0; t < np_; t++) {
                PyObject *p = PyList_GET_ITEM(pl, t);
                Piece *pc = &VEC_AT(pieces, Piece, pieces.len);
                if (PyLong_Check(p)) {
                    long id = PyLong_AsLong(p);
                    if (id == -1 && PyErr_Occurred())
                        goto done;
                    if (id < 0 || id >= n_piece_rows) {
                        PyErr_SetString(PyExc_IndexError, "piece id outside piece_rows");
                        goto done;
                    }
                    pc->row = piece_rows[id];
                } else {
                    pc->row = -1;
                    if (arena_add(&arena, p, 0, &pc->text) < 0)
                        goto done;
                }
                pieces.len++;
            }
        }
        Py_CLEAR(owned_pl);
        PyObject *el = extra_arg != Py_None ? (i < PyList_GET_SIZE(extra_arg) ? PyList_GET_ITEM(extra_arg, i) : Py_None)
                       : width == 6 ? f[5] : Py_None;
        job->extra_first = extras.len;
        if (el != Py_None) {
            if (!PyList_Check(el)) {
                PyErr_SetString(PyExc_TypeError, "extra must be None or a list of str");
                goto done;
            }
            Py_ssize_t ne = PyList_GET_SIZE(el);
            if (vec_reserve(&extras, ne) < 0) {
                PyErr_NoMemory();
                goto done;
            }
            job->extra_count = ne;
            for (Py_ssize_t t = 0; t < ne; t++) {
                if (arena_add(&arena, PyList_GET_ITEM(el, t), 0, &VEC_AT(extras, Span, extras.len)) < 0)
                    goto done;
                extras.len++;
            }
        }
    }
    /* Check piece rows against the weights once (the only rows not read from row_of). */
    for (Py_ssize_t t = 0; t < pieces.len; t++) {
        int32_t r = VEC_AT(pieces, Piece, t).row;
        if (r >= wb.shape[0]) {
            PyErr_SetString(PyExc_IndexError, "piece_rows points past the weights");
            goto done;
        }
    }

    /* Phase 2, without the GIL: features, hashing, gather, sum. */
    int failed = 0;
    float *out = (float *)ob.buf;
    const float *W = (const float *)wb.buf;
    const float *bias = (const float *)bb.buf;
    Py_ssize_t n_rows_w = wb.shape[0];
    Py_BEGIN_ALLOW_THREADS
    Sink sink = {row_of, rb.shape[0], &rows};
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        Job *job = &VEC_AT(jobs, Job, i);
        float *o = out + i * k;
        if (job->empty) {
            for (int c = 0; c < k; c++)
                o[c] = sigmoid ? 0.0f : -INFINITY;
            continue;
        }
        rows.len = 0;
        if (query_rows(&cfg, job, arena.buf, (Span *)toks.p, (Piece *)pieces.p, (Span *)extras.p, piece_rows,
                       n_piece_rows, &sink, &scratch) < 0) {
            failed = 1;
            break;
        }
        uint32_t *u = (uint32_t *)rows.p;
        Py_ssize_t m = rows.len;
        for (Py_ssize_t j = 0; j < m; j++)
            if (!(u[j] & ROW_FLAG))
                PREFETCH(row_of + u[j]);
        for (Py_ssize_t j = 0; j < m; j++) {
            int32_t row = (u[j] & ROW_FLAG) ? (int32_t)(u[j] & ~ROW_FLAG) : row_of[u[j]];
            if (row < 0 || row >= n_rows_w) {
                failed = 2;
                break;
            }
            u[j] = (uint32_t)row;
            PREFETCH(W + (Py_ssize_t)row * k);
        }
        if (failed)
            break;
        const int32_t *r = (const int32_t *)rows.p;
        float sum[MAX_CATEGORIES];
        reduceat_sum(r, m, W, k, sum);
        if (cfg.length_norm == 0) {
            float scale = 1.0f / sqrtf((float)m);
            for (int c = 0; c < k; c++) {
                float t = sum[c] * scale;
                o[c] = t + bias[c];
            }
        } else {
            for (int c = 0; c < k; c++)
                o[c] = sum[c] + bias[c];
        }
        if (sigmoid)
            for (int c = 0; c < k; c++)
                o[c] = sigmoid_of(o[c]);
    }
    Py_END_ALLOW_THREADS
    if (failed == 1) {
        PyErr_NoMemory();
        goto done;
    }
    if (failed == 2) {
        PyErr_SetString(PyExc_IndexError, "row_of points past the weights");
        goto done;
    }
    result = PyLong_FromSsize_t(live);
done:
    Py_XDECREF(owned_pl);
    free(arena.buf);
    free(jobs.p);
    free(toks.p);
    free(pieces.p);
    free(extras.p);
    free(rows.p);
    free(scratch.p);
    PyBuffer_Release(&ob);
    PyBuffer_Release(&rb);
    PyBuffer_Release(&wb);
    PyBuffer_Release(&bb);
    if (have_pieces)
        PyBuffer_Release(&pb);
    return result;
}

/* ------------------------------------------------------------------ */
/* Lexicon hits: searchsafe._lexicon.LexiconFeatures in C.              */

/* A trie over the lexicon's folded terms, its edges in one open-addressing
 * table keyed by (node, code point). Python's LexiconFeatures is the
 * reference; lexicon_hits() gives the same features in the same order and
 * hands back the queries it cannot decide alone (a term inside a word when
 * positions follow MeCab's morphemes), which Python then scores itself. */
typedef struct {
    uint64_t *keys;    /* (node + 1) << 32 | code point; 0 = empty slot */
    int32_t *child;
    size_t mask;       /* table size - 1 (a power of two) */
    int32_t *term_of;  /* node -> term index, or -1 */
    int32_t n_nodes;
    int32_t *feat_off; /* (term * 3 + pos) -> offset in feat_ids; pos 0 w, 1 e, 2 i */
    int32_t *feat_len;
    int32_t *feat_ids;
    PyObject *features; /* list of the distinct feature strings, indexed by id */
    Py_ssize_t n_features;
    /* Which BMP code points begin a term: most positions of a query begin
     * none, and this bitmap stays in cache where the edge table does not. */
    uint8_t first[8192];
} Lexicon;

#define LEX_CAPSULE "searchsafe._speedups.Lexicon"
#define LEX_MAX_TERM 64
#define LEX_MAX_FEATURES 1024

static void lexicon_free(Lexicon *lx)
{
    if (lx == NULL)
        return;
    free(lx->keys);
    free(lx->child);
    free(lx->term_of);
    free(lx->feat_off);
    free(lx->feat_len);
    free(lx->feat_ids);
    Py_XDECREF(lx->features);
    free(lx);
}

static void lexicon_capsule_free(PyObject *cap)
{
    lexicon_free((Lexicon *)PyCapsule_GetPointer(cap, LEX_CAPSULE));
}

static inline size_t lex_slot(uint64_t key, size_t mask)
{
    /* Fibonacci hashing: the top bits of the product depend on the node and
     * the character alike (the low bits would see only the character). */
    key *= 0x9E3779B97F4A7C15ull;
    return (size_t)(key >> 40) & mask;
}

static int32_t lex_child(const Lexicon *lx, int32_t node, Py_UCS4 c)
{
    uint64_t key = ((uint64_t)(node + 1) << 32) | c;
    for (size_t i = lex_slot(key, lx->mask);; i = (i + 1) & lx->mask) {
        if (lx->keys[i] == key)
            return lx->child[i];
        if (lx->keys[i] == 0)
            return -1;
    }
}

/* lexicon_compile(terms, feature_ids, features) -> capsule
 * terms: list of str; feature_ids: per term a 3-tuple (w, e, i) of tuples of
 * ints indexing features, a list of the distinct feature strings. */
static PyObject *py_lexicon_compile(PyObject *self, PyObject *args)
{
    PyObject *terms, *ids, *features;
    if (!PyArg_ParseTuple(args, "O!O!O!:lexicon_compile", &PyList_Type, &terms, &PyList_Type, &ids, &PyList_Type,
                          &features))
        return NULL;
    Py_ssize_t nt = PyList_GET_SIZE(terms), nf = PyList_GET_SIZE(features);
    if (PyList_GET_SIZE(ids) != nt) {
        PyErr_SetString(PyExc_ValueError, "lexicon_compile: terms and feature_ids differ in length");
        return NULL;
    }
    if (nf > LEX_MAX_FEATURES) {
        PyErr_Format(PyExc_ValueError, "lexicon_compile: more than %d distinct features", LEX_MAX_FEATURES);
        return NULL;
    }
    for (Py_ssize_t f = 0; f < nf; f++)
        if (!PyUnicode_Check(PyList_GET_ITEM(features, f))) {
            PyErr_SetString(PyExc_TypeError, "lexicon_compile: features must be str");
            return NULL;
        }
    Lexicon *lx = calloc(1, sizeof(Lexicon));
    if (lx == NULL)
        return PyErr_NoMemory();
    size_t chars = 0, n_ids = 0;
    for (Py_ssize_t t = 0; t < nt; t++) {
        PyObject *term = PyList_GET_ITEM(terms, t), *tri = PyList_GET_ITEM(ids, t);
        if (!PyUnicode_Check(term) || PyUnicode_GET_LENGTH(term) < 1 || PyUnicode_GET_LENGTH(term) > LEX_MAX_TERM ||
            !PyTuple_Check(tri) || PyTuple_GET_SIZE(tri) != 3) {
            PyErr_Format(PyExc_ValueError, "lexicon_compile: term %zd must be a str of 1 to %d characters with "
                         "a 3-tuple of feature ids", t, LEX_MAX_TERM);
            lexicon_free(lx);
            return NULL;
        }
        chars += (size_t)PyUnicode_GET_LENGTH(term);
        for (int p = 0; p < 3; p++) {
            PyObject *tp = PyTuple_GET_ITEM(tri, p);
            if (!PyTuple_Check(tp)) {
                PyErr_SetString(PyExc_TypeError, "lexicon_compile: feature ids must be tuples of int");
                lexicon_free(lx);
                return NULL;
            }
            n_ids += (size_t)PyTuple_GET_SIZE(tp);
        }
    }
    size_t cap = 16;
    while (cap < 2 * chars + 16)
        cap <<= 1;
    if (cap > ((size_t)1 << 24)) { /* lex_slot takes 24 bits of the hash */
        PyErr_SetString(PyExc_ValueError, "lexicon_compile: more than 8 million characters of terms");
        lexicon_free(lx);
        return NULL;
    }
    lx->mask = cap - 1;
    lx->keys = calloc(cap, sizeof(uint64_t));
    lx->child = calloc(cap, sizeof(int32_t));
    lx->term_of = malloc((chars + 1) * sizeof(int32_t));
    lx->feat_off = malloc((size_t)(3 * nt + 1) * sizeof(int32_t));
    lx->feat_len = malloc((size_t)(3 * nt + 1) * sizeof(int32_t));
    lx->feat_ids = malloc((n_ids + 1) * sizeof(int32_t));
    if (!lx->keys || !lx->child || !lx->term_of || !lx->feat_off || !lx->feat_len || !lx->feat_ids) {
        lexicon_free(lx);
        return PyErr_NoMemory();
    }
    lx->term_of[0] = -1;
    lx->n_nodes = 1;
    size_t at = 0;
    for (Py_ssize_t t = 0; t < nt; t++) {
        PyObject *term = PyList_GET_ITEM(terms, t), *tri = PyList_GET_ITEM(ids, t);
        int kind = PyUnicode_KIND(term);
        const void *data = PyUnicode_DATA(term);
        int32_t node = 0;
        Py_UCS4 c0 = PyUnicode_READ(kind, data, 0);
        if (c0 < 0x10000)
            lx->first[c0 >> 3] |= (uint8_t)(1u << (c0 & 7));
        for (Py_ssize_t j = 0; j < PyUnicode_GET_LENGTH(term); j++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, j);
            int32_t next = lex_child(lx, node, c);
            if (next < 0) {
                uint64_t key = ((uint64_t)(node + 1) << 32) | c;
                size_t i = lex_slot(key, lx->mask);
                while (lx->keys[i] != 0)
                    i = (i + 1) & lx->mask;
                next = lx->n_nodes++;
                lx->keys[i] = key;
                lx->child[i] = next;
                lx->term_of[next] = -1;
            }
            node = next;
        }
        if (lx->term_of[node] >= 0) {
            PyErr_Format(PyExc_ValueError, "lexicon_compile: term %zd is listed twice", t);
            lexicon_free(lx);
            return NULL;
        }
        lx->term_of[node] = (int32_t)t;
        for (int p = 0; p < 3; p++) {
            PyObject *tp = PyTuple_GET_ITEM(tri, p);
            lx->feat_off[3 * t + p] = (int32_t)at;
            lx->feat_len[3 * t + p] = (int32_t)PyTuple_GET_SIZE(tp);
            for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(tp); k++) {
                long id = PyLong_AsLong(PyTuple_GET_ITEM(tp, k));
                if (id < 0 || id >= nf) {
                    if (!PyErr_Occurred())
                        PyErr_Format(PyExc_ValueError, "lexicon_compile: feature id %ld out of range", id);
                    lexicon_free(lx);
                    return NULL;
                }
                lx->feat_ids[at++] = (int32_t)id;
            }
        }
    }
    Py_INCREF(features);
    lx->features = features;
    lx->n_features = nf;
    PyObject *cap_obj = PyCapsule_New(lx, LEX_CAPSULE, lexicon_capsule_free);
    if (cap_obj == NULL)
        lexicon_free(lx);
    return cap_obj;
}

static inline int ascii_alnum(Py_UCS4 c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

typedef struct {
    Py_ssize_t start, end;
    int32_t term;
} LexHit;

typedef struct {
    Py_ssize_t start, end;
} WordSpan;

/* The surface word behind each folded word, as LexiconFeatures._surface_words
 * pairs them: every whitespace-separated surface word whose fold is not empty,
 * in order, must fold to the next word of folded_words. Returns 1 and fills
 * *spans (PyMem) when they line up, 0 when not, -1 on error. */
static int lex_align(PyObject *surface, PyObject *folded_words, WordSpan **spans, Py_ssize_t *n_words)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(surface), fn = PyUnicode_GET_LENGTH(folded_words);
    int kind = PyUnicode_KIND(surface), fkind = PyUnicode_KIND(folded_words);
    const void *data = PyUnicode_DATA(surface), *fdata = PyUnicode_DATA(folded_words);
    Py_UCS4 *buf = PyMem_Malloc((size_t)(n + 1) * sizeof(Py_UCS4));
    WordSpan *out = PyMem_Malloc((size_t)(n + 1) * sizeof(WordSpan));
    if (buf == NULL || out == NULL) {
        PyMem_Free(buf);
        PyMem_Free(out);
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t nw = 0, i = 0, j = 0, f0 = 0, f1 = 0;
    int aligned = 1;
    while (aligned && next_word(kind, data, n, &i, &j)) {
        for (Py_ssize_t k = i; k < j; k++)
            buf[k - i] = PyUnicode_READ(kind, data, k);
        Py_ssize_t m = fold_words_buf(buf, j - i);
        if (m > 0) {
            if (!next_word(fkind, fdata, fn, &f0, &f1) || f1 - f0 != m)
                aligned = 0;
            for (Py_ssize_t k = 0; aligned && k < m; k++)
                if (buf[k] != PyUnicode_READ(fkind, fdata, f0 + k))
                    aligned = 0;
            out[nw].start = i;
            out[nw].end = j;
            nw++;
        }
    }
    if (aligned)
        aligned = !next_word(fkind, fdata, fn, &f0, &f1); /* no folded word left over */
    PyMem_Free(buf);
    if (!aligned) {
        PyMem_Free(out);
        return 0;
    }
    *spans = out;
    *n_words = nw;
    return 1;
}

/* A word table's stored value for word: a new reference, or NULL with no
 * error set when the table has none, or NULL with an error. */
static PyObject *table_peek(PyObject *table, PyObject *word)
{
    if (!PyObject_TypeCheck(table, &WordTableType)) {
        PyErr_Format(PyExc_TypeError, "lexicon_hits: word tables must be searchsafe._speedups.WordTable; got %.100s",
                     Py_TYPE(table)->tp_name);
        return NULL;
    }
    return wt_lookup((WordTableObject *)table, word, 0, PyUnicode_GET_LENGTH(word), NULL);
}

#define RAW_MAX_PIECES 64

/* _lexicon._bounds_of read from a word table's MeCab output: whether offsets
 * start and end of fold_words(word) both fall on a morpheme boundary. raw is
 * "surface[\x01lemma] ..." as the tokenizers write it. The same answers as
 * the Python (an empty set, so 0, where surfaces or folding do not line up).
 * 1, 0, or -1 on error; -2 when raw is not in that format (then ask Python). */
static int raw_bounds_contain(PyObject *raw, PyObject *word, Py_ssize_t start, Py_ssize_t end)
{
    if (!PyUnicode_Check(raw))
        return -2;
    Py_ssize_t rn = PyUnicode_GET_LENGTH(raw), wn = PyUnicode_GET_LENGTH(word);
    int rk = PyUnicode_KIND(raw), wk = PyUnicode_KIND(word);
    const void *rd = PyUnicode_DATA(raw), *wd = PyUnicode_DATA(word);
    Py_UCS4 *buf = PyMem_Malloc((size_t)(wn + 1) * sizeof(Py_UCS4) * 2);
    if (buf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_UCS4 *folded = buf + wn + 1; /* the pieces' folds, joined */
    Py_ssize_t bounds[RAW_MAX_PIECES + 1], nb = 0, pos = 0, at = 0, nf = 0;
    int rc = 1;
    bounds[nb++] = 0;
    Py_ssize_t i = 0, j = 0;
    while (rc == 1 && next_word(rk, rd, rn, &i, &j)) {
        /* the surface: up to the first \x01 */
        Py_ssize_t e = i;
        while (e < j && PyUnicode_READ(rk, rd, e) != 0x01)
            e++;
        Py_ssize_t m = e - i;
        if (at + m > wn) {
            rc = 0; /* surfaces longer than the word */
            break;
        }
        for (Py_ssize_t k = 0; k < m; k++) {
            Py_UCS4 c = PyUnicode_READ(rk, rd, i + k);
            if (c != PyUnicode_READ(wk, wd, at + k)) {
                rc = 0;
                break;
            }
            buf[k] = c;
        }
        if (rc != 1)
            break;
        at += m;
        Py_ssize_t f = fold_words_buf(buf, m), kept = 0;
        for (Py_ssize_t k = 0; k < f; k++)
            if (buf[k] != ' ')
                folded[nf + kept++] = buf[k];
        nf += kept;
        pos += kept;
        if (nb > RAW_MAX_PIECES) {
            rc = -2;
            break;
        }
        bounds[nb++] = pos;
        i = j;
    }
    if (rc == 1 && at != wn)
        rc = 0; /* MeCab dropped characters */
    if (rc == 1) {
        /* folding must not cross a morpheme: the pieces' folds joined equal the word's */
        for (Py_ssize_t k = 0; k < wn; k++)
            buf[k] = PyUnicode_READ(wk, wd, k);
        Py_ssize_t f = fold_words_buf(buf, wn);
        if (f != nf || memcmp(buf, folded, (size_t)nf * sizeof(Py_UCS4)) != 0)
            rc = 0;
    }
    PyMem_Free(buf);
    if (rc != 1)
        return rc;
    int has_start = 0, has_end = 0;
    for (Py_ssize_t k = 0; k < nb; k++) {
        has_start |= bounds[k] == start;
        has_end |= bounds[k] == end;
    }
    return has_start && has_end;
}

static int has_hangul(PyObject *word)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(word);
    int kind = PyUnicode_KIND(word);
    const void *data = PyUnicode_DATA(word);
    for (Py_ssize_t i = 0; i < n; i++)
        if (hangul_letter(PyUnicode_READ(kind, data, i)))
            return 1;
    return 0;
}

/* raw_bounds(raw, word, start, end): raw_bounds_contain for tests; None where Python must answer. */
static PyObject *py_raw_bounds(PyObject *self, PyObject *args)
{
    PyObject *raw, *word;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "UUnn:raw_bounds", &raw, &word, &start, &end))
        return NULL;
    int rc = raw_bounds_contain(raw, word, start, end);
    if (rc == -1)
        return NULL;
    if (rc == -2)
        Py_RETURN_NONE;
    return PyBool_FromLong(rc);
}

/* Whether [start, end) of folded word k lies on MeCab's morpheme boundaries:
 * bounds(surface word) is searchsafe._lexicon.morpheme_bounds. 1, 0, or -1 on error. */
static int lex_on_bounds(PyObject *bounds, PyObject *tables, PyObject *surface, const WordSpan *spans,
                         Py_ssize_t n_words, Py_ssize_t k, Py_ssize_t start, Py_ssize_t end)
{
    if (k >= n_words)
        return 0;
    PyObject *word = PyUnicode_Substring(surface, spans[k].start, spans[k].end);
    if (word == NULL)
        return -1;
    if (tables != NULL) {
        /* The word's parse is usually in the word table of the dictionary the
         * bounds need (mecab-ko-dic for Hangul, ipadic otherwise): read it here. */
        PyObject *table = PyTuple_GET_ITEM(tables, has_hangul(word));
        if (table != Py_None) {
            PyObject *raw = table_peek(table, word);
            if (raw == NULL && PyErr_Occurred()) {
                Py_DECREF(word);
                return -1;
            }
            if (raw != NULL) {
                int rc = raw_bounds_contain(raw, word, start, end);
                Py_DECREF(raw);
                if (rc != -2) {
                    Py_DECREF(word);
                    return rc;
                }
            }
        }
    }
    PyObject *set = PyObject_CallOneArg(bounds, word);
    Py_DECREF(word);
    if (set == NULL)
        return -1;
    int ok = 1;
    for (int e = 0; e < 2 && ok == 1; e++) {
        PyObject *at = PyLong_FromSsize_t(e == 0 ? start : end);
        ok = at == NULL ? -1 : PySequence_Contains(set, at);
        Py_XDECREF(at);
    }
    Py_DECREF(set);
    return ok;
}

/* Features of one folded query into *out (a new list, or NULL for none);
 * returns 1 when Python must decide (a term inside a word under morpheme
 * positions, with no surface to read or surface words that do not line up
 * with the folded ones), 0 when done, -1 on error. */
static int lexicon_one(const Lexicon *lx, PyObject *text, int morpheme, PyObject *surface, PyObject *bounds,
                       PyObject *tables, unsigned char *seen, PyObject **out)
{
    *out = NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    LexHit local[64], *hits = local;
    Py_ssize_t nh = 0, caph = 64;
    int rc = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c0 = PyUnicode_READ(kind, data, i);
        if (c0 < 0x10000 && !(lx->first[c0 >> 3] & (1u << (c0 & 7))))
            continue;
        int32_t node = 0;
        for (Py_ssize_t j = i; j < n && j - i < LEX_MAX_TERM; j++) {
            node = lex_child(lx, node, PyUnicode_READ(kind, data, j));
            if (node < 0)
                break;
            int32_t t = lx->term_of[node];
            if (t < 0)
                continue;
            Py_ssize_t end = j + 1;
            /* A term starting or ending with a Latin letter or digit needs no such character beside it. */
            if (ascii_alnum(PyUnicode_READ(kind, data, i)) && i > 0 && ascii_alnum(PyUnicode_READ(kind, data, i - 1)))
                continue;
            if (ascii_alnum(PyUnicode_READ(kind, data, j)) && end < n && ascii_alnum(PyUnicode_READ(kind, data, end)))
                continue;
            if (nh == caph) {
                LexHit *bigger = malloc((size_t)caph * 2 * sizeof(LexHit));
                if (bigger == NULL) {
                    rc = -1;
                    PyErr_NoMemory();
                    goto done;
                }
                memcpy(bigger, hits, (size_t)nh * sizeof(LexHit));
                if (hits != local)
                    free(hits);
                hits = bigger;
                caph *= 2;
            }
            hits[nh].start = i;
            hits[nh].end = end;
            hits[nh].term = t;
            nh++;
        }
    }
    if (nh == 0)
        goto done;
    /* Order by end, then start, as the reference does (insertion sort: a query has few hits). */
    for (Py_ssize_t a = 1; a < nh; a++) {
        LexHit h = hits[a];
        Py_ssize_t b = a;
        while (b > 0 && (hits[b - 1].end > h.end || (hits[b - 1].end == h.end && hits[b - 1].start > h.start))) {
            hits[b] = hits[b - 1];
            b--;
        }
        hits[b] = h;
    }
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        rc = -1;
        goto done;
    }
    int32_t set_ids[LEX_MAX_FEATURES];
    Py_ssize_t n_set = 0;
    int aligned = -2; /* not looked at yet */
    WordSpan *spans = NULL;
    Py_ssize_t n_words = 0;
    for (Py_ssize_t a = 0; a < nh && rc == 0; a++) {
        Py_ssize_t s = hits[a].start, e = hits[a].end;
        int left = s == 0 || PyUnicode_READ(kind, data, s - 1) == ' ';
        int right = e == n || PyUnicode_READ(kind, data, e) == ' ';
        int pos;
        if (left && right) {
            pos = 0;
        } else {
            int spaced = 0;
            for (Py_ssize_t k = s; k < e; k++)
                if (PyUnicode_READ(kind, data, k) == ' ') {
                    spaced = 1;
                    break;
                }
            if (morpheme && !spaced) {
                /* A term inside a word: it stands apart where MeCab puts both of its ends on morpheme boundaries. */
                if (surface == NULL || bounds == NULL) {
                    rc = 1;
                    break;
                }
                if (aligned == -2) {
                    aligned = lex_align(surface, text, &spans, &n_words);
                    if (aligned < 0) {
                        rc = -1;
                        break;
                    }
                }
                if (aligned == 0) {
                    rc = 1;
                    break;
                }
                Py_ssize_t k = 0, base = 0;
                for (Py_ssize_t c = 0; c < s; c++)
                    if (PyUnicode_READ(kind, data, c) == ' ') {
                        k++;
                        base = c + 1;
                    }
                int on = lex_on_bounds(bounds, tables, surface, spans, n_words, k, s - base, e - base);
                if (on < 0) {
                    rc = -1;
                    break;
                }
                pos = on ? 1 : 2;
            } else {
                pos = left || right ? 1 : 2;
            }
        }
        int32_t slot = 3 * hits[a].term + pos;
        for (int32_t k = 0; k < lx->feat_len[slot]; k++) {
            int32_t id = lx->feat_ids[lx->feat_off[slot] + k];
            if (seen[id])
                continue;
            seen[id] = 1;
            set_ids[n_set++] = id;
            if (PyList_Append(list, PyList_GET_ITEM(lx->features, id)) < 0) {
                rc = -1;
                break;
            }
        }
    }
    for (Py_ssize_t k = 0; k < n_set; k++)
        seen[set_ids[k]] = 0;
    PyMem_Free(spans);
    if (rc != 0 || PyList_GET_SIZE(list) == 0)
        Py_DECREF(list);
    else {
        PyObject_GC_UnTrack(list); /* only str, as prepare()'s items */
        *out = list;
    }
done:
    if (hits != local)
        free(hits);
    return rc;
}

/* lexicon_hits(lexicon, items, morpheme, surfaces=None, bounds=None) -> (features, undecided)
 * items as prepare() returns them (None, or [lang, folded_words, ...]);
 * features[i] is None or a list of feature strings; undecided lists the
 * indices Python must decide (their features are left None): under morpheme
 * positions, a term inside a word needs surfaces (prepare()'s) and bounds
 * (morpheme_bounds), and surface words that line up with the folded ones. */
static PyObject *py_lexicon_hits(PyObject *self, PyObject *args)
{
    PyObject *cap, *items, *surfaces = Py_None, *bounds = Py_None, *tables = Py_None;
    int morpheme;
    if (!PyArg_ParseTuple(args, "OO!p|OOO:lexicon_hits", &cap, &PyList_Type, &items, &morpheme, &surfaces, &bounds,
                          &tables))
        return NULL;
    if (tables != Py_None && (!PyTuple_Check(tables) || PyTuple_GET_SIZE(tables) != 2)) {
        PyErr_SetString(PyExc_TypeError, "lexicon_hits: tables must be None or a (non-Hangul table, Hangul table) tuple");
        return NULL;
    }
    if (surfaces != Py_None && (!PyList_Check(surfaces) || PyList_GET_SIZE(surfaces) != PyList_GET_SIZE(items))) {
        PyErr_SetString(PyExc_TypeError, "lexicon_hits: surfaces must be None or a list as long as items");
        return NULL;
    }
    if (bounds != Py_None && !PyCallable_Check(bounds)) {
        PyErr_SetString(PyExc_TypeError, "lexicon_hits: bounds must be None or callable");
        return NULL;
    }
    Lexicon *lx = PyCapsule_GetPointer(cap, LEX_CAPSULE);
    if (lx == NULL)
        return NULL;
    unsigned char seen[LEX_MAX_FEATURES];
    memset(seen, 0, sizeof(seen));
    Py_ssize_t n = PyList_GET_SIZE(items);
    PyObject *feats = PyList_New(n), *undecided = PyList_New(0);
    if (feats == NULL || undecided == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = PyList_GET_ITEM(items, i), *words = NULL, *out = NULL;
        if (it != Py_None) {
            if (!PyList_Check(it) || PyList_GET_SIZE(it) < 2 || !PyUnicode_Check(PyList_GET_ITEM(it, 1))) {
                PyErr_SetString(PyExc_TypeError, "lexicon_hits: each item must be None or a list whose second field "
                                "is the folded words");
                goto fail;
            }
            words = PyList_GET_ITEM(it, 1);
            PyObject *surface = surfaces == Py_None ? NULL : PyList_GET_ITEM(surfaces, i);
            if (surface != NULL && !PyUnicode_Check(surface)) {
                PyErr_SetString(PyExc_TypeError, "lexicon_hits: each surface must be a str");
                goto fail;
            }
            int rc = lexicon_one(lx, words, morpheme, surface, bounds == Py_None ? NULL : bounds,
                                 tables == Py_None ? NULL : tables, seen, &out);
            if (rc < 0)
                goto fail;
            if (rc == 1) {
                PyObject *idx = PyLong_FromSsize_t(i);
                if (idx == NULL || PyList_Append(undecided, idx) < 0) {
                    Py_XDECREF(idx);
                    goto fail;
                }
                Py_DECREF(idx);
            }
        }
        if (out == NULL) {
            Py_INCREF(Py_None);
            out = Py_None;
        }
        PyList_SET_ITEM(feats, i, out);
    }
    return Py_BuildValue("(NN)", feats, undecided);
fail:
    Py_XDECREF(feats);
    Py_XDECREF(undecided);
    return NULL;
}

/* call_each(fn, args, texts) -> [fn(t, *args) for t in texts]: a Python
 * function per text (sentencepiece's positional encoder takes seven
 * arguments) cost more than the call it made. texts comes last so that
 * functools.partial(call_each, fn, args) is the encoder. */
static PyObject *py_call_each(PyObject *self, PyObject *args)
{
    PyObject *fn, *texts, *extra;
    if (!PyArg_ParseTuple(args, "OO!O!:call_each", &fn, &PyTuple_Type, &extra, &PyList_Type, &texts))
        return NULL;
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "call_each: fn must be callable");
        return NULL;
    }
    Py_ssize_t k = PyTuple_GET_SIZE(extra), n = PyList_GET_SIZE(texts);
    if (k > 15) {
        PyErr_SetString(PyExc_ValueError, "call_each: at most 15 further arguments");
        return NULL;
    }
    PyObject *stack[16];
    for (Py_ssize_t a = 0; a < k; a++)
        stack[a + 1] = PyTuple_GET_ITEM(extra, a);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        stack[0] = PyList_GET_ITEM(texts, i);
        PyObject *r = PyObject_Vectorcall(fn, stack, (size_t)(k + 1), NULL);
        if (r == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        if (PyList_CheckExact(r)) {
            /* sentencepiece's ids: a list of int per text, alive until the batch is
             * scored. Untracked, like prepare()'s items, when it holds nothing else. */
            Py_ssize_t m = PyList_GET_SIZE(r), a = 0;
            while (a < m && PyLong_CheckExact(PyList_GET_ITEM(r, a)))
                a++;
            if (a == m)
                PyObject_GC_UnTrack(r);
        }
        PyList_SET_ITEM(out, i, r);
    }
    return out;
}

/* ------------------------------------------------------------------ */

static PyMethodDef methods[] = {
    {"crc32", py_crc32, METH_O, "CRC-32 of a str's UTF-8 (equals zlib.crc32(s.encode()))."},
    {"fold_words", py_fold_words, METH_O, "searchsafe._normalize.fold_words in C."},
    {"join_words", py_join_words, METH_O, "searchsafe._normalize.join_words in C."},
    {"compose_jamo", py_compose_jamo, METH_O, "searchsafe._hangul.compose_jamo in C."},
    {"detect_language", py_detect_language, METH_O, "searchsafe.detect_language in C."},
    {"call_each", py_call_each, METH_VARARGS, "call_each(fn, args, texts) -> [fn(t, *args) for t in texts]."},
    {"near_normal", py_near_normal, METH_VARARGS,
     "near_normal(text, latin_ok): normalize(text) for capitals and wedged marks rewritten in C, or None."},
    {"raw_bounds", py_raw_bounds, METH_VARARGS,
     "raw_bounds(raw, word, start, end): both offsets on MeCab's morpheme boundaries read from raw, or None."},
    {"is_normal", py_is_normal, METH_VARARGS,
     "is_normal(text, latin_ok=None): True only if normalize(text) == text (may be False when it is)."},
    {"prepare", py_prepare, METH_VARARGS, "The text views and tokens of a batch, ready for logits()."},
    {"views", py_views, METH_VARARGS, "views(query, normalize) -> (surface, folded_words, folded, lang)."},
    {"reduceat_sum", py_reduceat_sum, METH_VARARGS, "Sum of rows of a float32 matrix in np.add.reduceat's order."},
    {"lexicon_compile", py_lexicon_compile, METH_VARARGS, "A lexicon's terms as a trie, for lexicon_hits()."},
    {"lexicon_hits", py_lexicon_hits, METH_VARARGS, "Lexicon features of a batch of prepare() items."},
    {"logits", (PyCFunction)(void (*)(void))py_logits, METH_VARARGS | METH_KEYWORDS, "Feature rows, gather and sum of a batch, written into out."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", "searchsafe's compiled scoring path.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__speedups(void)
{
    crc_init();
    STR_SPACE = PyUnicode_InternFromString(" ");
    if (STR_SPACE == NULL || PyType_Ready(&WordTableType) < 0)
        return NULL;
    const char *names[4] = {"ja", "ko", "mixed", "other"};
    for (int i = 0; i < 4; i++) {
        LANG_STR[i] = PyUnicode_InternFromString(names[i]);
        if (LANG_STR[i] == NULL)
            return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&WordTableType);
    if (PyModule_AddObject(m, "WordTable", (PyObject *)&WordTableType) < 0) {
        Py_DECREF(&WordTableType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "MAX_CATEGORIES", MAX_CATEGORIES) < 0 ||
        PyModule_AddIntConstant(m, "MAX_QUERY_CHARS", MAX_QUERY_CHARS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
