/*
 * test_log.c - the one log writer in both formats: stderr goes to a file,
 * every line is read back. Hostile values (quotes, backslashes, newlines,
 * control bytes, a fake "key=value", invalid UTF-8, long text) stay inside
 * their value and come back unchanged from the JSON form; numbers are
 * numbers; repeated keys and stray words are kept; a cut line is still one
 * line and, as JSON, one object.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "test_support.h"
#include "tickpush/log.h"

static char path[] = "/tmp/tp-test-log-XXXXXX";
static int saved_fd = -1;

static int setup(void **state)
{
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	fflush(stderr);
	saved_fd = dup(2);
	dup2(fd, 2);
	close(fd);
	tp_log_min_level = TP_LOG_DEBUG;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fflush(stderr);
	dup2(saved_fd, 2);
	close(saved_fd);
	unlink(path);
	tp_log_format = TP_LOG_KEYVALUE;
	tp_log_min_level = TP_LOG_INFO;
	return 0;
}

/* Everything logged since the last call (lines joined), malloc'd. */
static char *take(void)
{
	static long done;
	FILE *f = fopen(path, "r");
	char *buf;
	long end;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	end = ftell(f);
	buf = calloc(1, (size_t)(end - done) + 1);
	fseek(f, done, SEEK_SET);
	assert_int_equal(fread(buf, 1, (size_t)(end - done), f), (size_t)(end - done));
	fclose(f);
	done = end;
	return buf;
}

static int lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static const char nasty[] = "a \"quoted\" \\ back\nslash\r\tx=1 level=error \x01\x7f end";

static void test_keyvalue(void **state)
{
	char *out;

	(void)state;
	tp_log_format = TP_LOG_KEYVALUE;
	TP_LOG(TP_LOG_WARN, "msg=\"test\" detail=%s n=%d", tp_log_q(nasty), 7);
	out = take();
	assert_int_equal(lines(out), 1);
	assert_non_null(strstr(out, " level=warn msg=\"test\" detail=\"a \\\"quoted\\\" \\\\ "
				"back\\nslash\\r\\tx=1 level=error \\x01\\x7f end\" n=7\n"));
	assert_true(!strncmp(out, "ts=", 3));
	free(out);
	/* NULL and a length-bounded value. */
	TP_LOG(TP_LOG_INFO, "a=%s b=%s", tp_log_q(NULL), tp_log_qn("abcdef", 3));
	out = take();
	assert_non_null(strstr(out, " a=\"\" b=\"abc\"\n"));
	free(out);
	/* Below the level: nothing. */
	tp_log_min_level = TP_LOG_INFO;
	TP_LOG(TP_LOG_DEBUG, "msg=\"hidden\"");
	tp_log_min_level = TP_LOG_DEBUG;
	out = take();
	assert_string_equal(out, "");
	free(out);
}

static cJSON *one_json(void)
{
	char *out = take();
	cJSON *j;

	assert_int_equal(lines(out), 1);
	j = cJSON_Parse(out);
	if (!j)
		fail_msg("not JSON: %s", out);
	free(out);
	return j;
}

static const char *str(const cJSON *j, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);

	if (!cJSON_IsString(v))
		fail_msg("%s: not a string", k);
	return v->valuestring;
}

static void test_json(void **state)
{
	cJSON *j;
	char big[2000];

	(void)state;
	tp_log_format = TP_LOG_JSON;
	TP_LOG(TP_LOG_NOTICE, "msg=\"hello world\" detail=%s n=%d f=%.2f d=%.2fs id=007 neg=-3 "
	       "e=1e5 word=abc", tp_log_q(nasty), 42, 1.5, 2.0);
	j = one_json();
	assert_string_equal(str(j, "level"), "notice");
	assert_int_equal(strlen(str(j, "ts")), 24);
	assert_string_equal(str(j, "msg"), "hello world");
	assert_string_equal(str(j, "detail"), nasty);
	assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "n")));
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "n")->valueint, 42);
	assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "f")));
	assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "neg")));
	assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "e")));
	assert_string_equal(str(j, "d"), "2.00s");
	assert_string_equal(str(j, "id"), "007");
	assert_string_equal(str(j, "word"), "abc");
	cJSON_Delete(j);
	/* Repeated keys, a reserved key, stray words, an unterminated quote. */
	TP_LOG(TP_LOG_INFO, "stray msg=\"m\" conn=1 conn=2 level=x words here tail=\"open");
	j = one_json();
	assert_string_equal(str(j, "level"), "info");
	assert_string_equal(str(j, "level_2"), "x");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "conn_2")->valueint, 2);
	assert_string_equal(str(j, "text"), "stray words here");
	assert_string_equal(str(j, "tail"), "open");
	cJSON_Delete(j);
	/* Invalid UTF-8 is replaced; valid UTF-8 is kept. */
	TP_LOG(TP_LOG_INFO, "v=%s", tp_log_q("caf\xc3\xa9 \xff\xc0\xaf \xed\xa0\x80"));
	j = one_json();
	assert_string_equal(str(j, "v"), "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
			    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	cJSON_Delete(j);
	/* Long values are cut, the line still one object. */
	memset(big, '"', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	TP_LOG(TP_LOG_INFO, "a=%s b=%s c=%s d=%s e=%s f=%s g=%s h=%s", tp_log_q(big),
	       tp_log_q(big), tp_log_q(big), tp_log_q(big), tp_log_q(big), tp_log_q(big),
	       tp_log_q(big), tp_log_q(big));
	j = one_json();
	assert_true(strlen(str(j, "a")) < 300);
	cJSON_Delete(j);
}

static void test_format_parse(void **state)
{
	(void)state;
	assert_int_equal(tp_log_format_parse("json"), TP_LOG_JSON);
	assert_int_equal(tp_log_format_parse("KeyValue"), TP_LOG_KEYVALUE);
	assert_int_equal(tp_log_format_parse("logfmt"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyvalue),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_format_parse),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
