/*
 * test_cluster.c - several instances on one Redis (cluster = redis):
 * one stream position for all of them.
 *
 * Covers: two instances give the same event the same (epoch, seq); the
 * scan's stream position from A joins a subscription on B exactly (no
 * gap, no duplicate), also when B is asked before it has read that far;
 * killing one instance does not stop the others, and an instance started
 * later reads the shared history (a since from before it started
 * resumes on it); an expiry has one position everywhere; long-poll and
 * SSE resume on another instance too.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "it_cluster.h"
#include "test_support.h"

static struct it_env a, b;

static int setup(void **state)
{
	(void)state;
	it_setup(&a, "cluster-a");
	it_setup(&b, "cluster-b");
	it_redis_start(&a);
	itc_share_redis(&b, &a);
	itc_start(&a, NULL);
	itc_start(&b, NULL);
	return 0;
}

static int teardown(void **state)
{
	int rc = 0;

	(void)state;
	if (it_finish(&b))
		rc = -1;
	if (it_finish(&a))
		rc = -1;
	return rc;
}

static void assert_same_frames(const struct itc_session *x,
			       const struct itc_session *y)
{
	assert_int_equal(x->n, y->n);
	for (size_t i = 0; i < x->n; i++) {
		assert_string_equal(x->frames[i].type, y->frames[i].type);
		assert_string_equal(x->frames[i].id, y->frames[i].id);
		if (x->frames[i].seq != y->frames[i].seq)
			fail_msg("frame %zu (%s): seq %llu here, %llu there", i,
				 x->frames[i].id, x->frames[i].seq, y->frames[i].seq);
	}
}

/* Waits until the scans of sym on A and B both find n patterns at the
 * same position; that position (A's scan) goes to epoch/seq. */
static void scan_when_both_have(const char *sym, int n, char *epoch,
				size_t epoch_n, unsigned long long *seq)
{
	char epoch_b[32];
	unsigned long long seq_b = 0;

	/* A deadline in time, not in tries: 200 back-to-back tries pass in
	 * well under a second on a fast machine, while B may lag longer. */
	for (double limit = it_now() + 20; it_now() < limit; usleep(20 * 1000))
		if (itc_scan_position(a.port, sym, epoch, epoch_n, seq) == n &&
		    itc_scan_position(b.port, sym, epoch_b, sizeof(epoch_b), &seq_b) == n &&
		    *seq == seq_b)
			break;
	assert_int_equal(*seq, seq_b);
	assert_string_equal(epoch, epoch_b);
}

static void test_same_position_everywhere(void **state)
{
	struct itc_session sa, sb;
	char ids[5][96];

	(void)state;
	itc_open(&sa, a.port, NULL);
	itc_open(&sb, b.port, NULL);
	assert_string_equal(sa.epoch, sb.epoch);
	itc_subscribe(&sa, "SAME", false, NULL, 0);
	itc_subscribe(&sb, "SAME", false, NULL, 0);
	for (int i = 0; i < 5; i++)
		itc_publish(&a, "SAME", ids[i], sizeof(ids[i]));
	assert_true(itc_wait_frames(&sa, 5, 10));
	assert_true(itc_wait_frames(&sb, 5, 10));
	itc_collect(&sa, 0.3);
	itc_collect(&sb, 0.3);
	assert_int_equal(sa.n, 5);
	for (int i = 0; i < 5; i++) {
		assert_string_equal(sa.frames[i].id, ids[i]);
		if (i)
			assert_true(sa.frames[i].seq > sa.frames[i - 1].seq);
	}
	assert_same_frames(&sa, &sb);
	itc_close(&sa);
	itc_close(&sb);
}

static void test_scan_position_joins_on_other_instance(void **state)
{
	struct itc_session sb, live;
	char epoch[32], ids[6][96];
	unsigned long long seq;

	(void)state;
	itc_publish(&a, "JOIN", ids[0], sizeof(ids[0]));
	/* The initial load on A, once both have the first event... */
	scan_when_both_have("JOIN", 1, epoch, sizeof(epoch), &seq);
	itc_open(&live, b.port, NULL);
	itc_subscribe(&live, "JOIN", false, NULL, 0);
	/* ...then three more events, then the subscription on B with the
	 * scan's position: exactly those three, then live ones. */
	for (int i = 1; i <= 3; i++)
		itc_publish(&a, "JOIN", ids[i], sizeof(ids[i]));
	assert_true(itc_wait_frames(&live, 3, 10)); /* B has them */
	itc_open(&sb, b.port, NULL);
	itc_subscribe(&sb, "JOIN", true, epoch, seq);
	assert_true(sb.recovered);
	assert_true(itc_wait_frames(&sb, 3, 10));
	for (int i = 4; i <= 5; i++)
		itc_publish(&a, "JOIN", ids[i], sizeof(ids[i]));
	assert_true(itc_wait_frames(&sb, 5, 10));
	itc_collect(&sb, 0.3);
	assert_int_equal(sb.gaps, 0);
	assert_int_equal(sb.n, 5);
	for (int i = 0; i < 5; i++)
		assert_string_equal(sb.frames[i].id, ids[i + 1]);
	itc_close(&sb);
	itc_close(&live);
}

/* A position B has not reached yet (another instance answered first)
 * resumes too: nothing replayed, the events up to it skipped. */
static void test_future_position_is_not_a_gap(void **state)
{
	struct itc_session sb;
	char epoch[32], id[96];
	unsigned long long seq;

	(void)state;
	itc_scan_position(b.port, "FUT", epoch, sizeof(epoch), &seq);
	itc_open(&sb, b.port, NULL);
	itc_subscribe(&sb, "FUT", true, epoch, seq + 3 * 1024);
	assert_true(sb.recovered);
	itc_publish(&a, "FUT", NULL, 0);   /* entry seq+1 .. skipped */
	itc_publish(&a, "FUT", NULL, 0);
	itc_publish(&a, "FUT", NULL, 0);
	itc_publish(&a, "FUT", id, sizeof(id));
	assert_true(itc_wait_frames(&sb, 1, 10));
	itc_collect(&sb, 0.5);
	assert_int_equal(sb.gaps, 0);
	assert_int_equal(sb.n, 1);
	assert_string_equal(sb.frames[0].id, id);
	itc_close(&sb);
}

static void test_kill_one_instance_others_go_on(void **state)
{
	struct itc_session sb, late;
	char epoch[32], ids[4][96];
	unsigned long long seq;

	(void)state;
	itc_open(&sb, b.port, NULL);
	itc_subscribe(&sb, "KILL", false, NULL, 0);
	snprintf(epoch, sizeof(epoch), "%s", sb.epoch);
	seq = sb.seq;
	assert_int_equal(it_server_stop(&a, SIGKILL, 5), 128 + SIGKILL);
	for (int i = 0; i < 4; i++)
		itc_publish(&b, "KILL", ids[i], sizeof(ids[i]));
	assert_true(itc_wait_frames(&sb, 4, 10));
	/* A new instance reads the shared history: the position from before
	 * it existed resumes on it. */
	itc_start(&a, NULL);
	itc_open(&late, a.port, NULL);
	assert_string_equal(late.epoch, epoch);
	itc_subscribe(&late, "KILL", true, epoch, seq);
	assert_true(late.recovered);
	assert_true(itc_wait_frames(&late, 4, 10));
	itc_collect(&late, 0.3);
	assert_same_frames(&late, &sb);
	for (int i = 0; i < 4; i++)
		assert_string_equal(late.frames[i].id, ids[i]);
	itc_close(&late);
	itc_close(&sb);
}

/* Expiry goes through the stream: the removal has the same seq on both. */
static void test_expiry_has_one_position(void **state)
{
	struct itc_session sa, sb;
	char ev[512];
	double now = (double)time(NULL);

	(void)state;
	itc_open(&sa, a.port, NULL);
	itc_open(&sb, b.port, NULL);
	itc_subscribe(&sa, "EXP", false, NULL, 0);
	itc_subscribe(&sb, "EXP", false, NULL, 0);
	snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"EXP\","
		 "\"pattern\":\"Doji\",\"confidence\":0.9,\"timestamp\":%.0f,\"expires_at\":%.0f}}",
		 now - 10, now + 2);
	assert_true(it_publish(&a, "tickstock.events.patterns", ev) >= 2);
	assert_true(itc_wait_frames(&sa, 2, 10));
	assert_true(itc_wait_frames(&sb, 2, 10));
	itc_collect(&sa, 0.3);
	itc_collect(&sb, 0.3);
	assert_int_equal(sa.n, 2);
	assert_string_equal(sa.frames[1].type, "pattern_removed");
	assert_same_frames(&sa, &sb);
	itc_close(&sa);
	itc_close(&sb);
}

static void test_poll_and_sse_resume_on_other_instance(void **state)
{
	char epoch[32], ids[4][96], got[8][96], path[256], req[512];
	unsigned long long seq;
	cJSON *j, *events;
	int fd, gaps;

	(void)state;
	itc_publish(&a, "PSE", NULL, 0);
	scan_when_both_have("PSE", 1, epoch, sizeof(epoch), &seq);
	itc_publish(&a, "PSE", ids[0], sizeof(ids[0]));
	itc_publish(&a, "PSE", ids[1], sizeof(ids[1]));
	/* Long-poll on B from A's position: exactly the two. */
	snprintf(path, sizeof(path), "/api/patterns/poll?since=%s:%llu&timeout=5&symbols=PSE&confidence_min=0",
		 epoch, seq);
	j = it_get_json(b.port, path, 200);
	events = cJSON_GetObjectItemCaseSensitive(j, "events");
	/* B may not have read the second yet (the poll answers with what it
	 * has): ask again from the same position, however long B lags. */
	for (double limit = it_now() + 20;
	     cJSON_GetArraySize(events) < 2 && it_now() < limit;) {
		cJSON_Delete(j);
		usleep(100 * 1000);
		j = it_get_json(b.port, path, 200);
		events = cJSON_GetObjectItemCaseSensitive(j, "events");
	}
	assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "gap")));
	assert_int_equal(cJSON_GetArraySize(events), 2);
	for (int i = 0; i < 2; i++)
		assert_string_equal(it_json_str(cJSON_GetObjectItemCaseSensitive(
			cJSON_GetArrayItem(events, i), "data"), "id"), ids[i]);
	cJSON_Delete(j);
	/* SSE on B with Last-Event-ID from A: the two, then live ones. */
	fd = it_connect(b.port);
	assert_true(fd >= 0);
	snprintf(req, sizeof(req), "GET /api/stream?channels=patterns&symbols=PSE&confidence_min=0 HTTP/1.1\r\n"
		 "Host: x\r\nAccept: text/event-stream\r\nLast-Event-ID: %s:%llu\r\n\r\n",
		 epoch, seq);
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	usleep(300 * 1000);
	itc_publish(&a, "PSE", ids[2], sizeof(ids[2]));
	assert_int_equal(it_sse_pattern_ids(fd, got[0], sizeof(got[0]), 8, 3, 1.0, &gaps), 3);
	assert_int_equal(gaps, 0);
	close(fd);
	for (int i = 0; i < 3; i++)
		assert_string_equal(got[i], ids[i]);
}

/* An instance that starts after the stream was trimmed has a hole before
 * its first entry: an older position gets a gap, not a silent hole. */
static void test_trimmed_stream_is_a_gap_not_a_hole(void **state)
{
	struct it_env c;
	struct itc_session old_s, new_s;
	char epoch[32], id[96];
	unsigned long long old, recent;

	(void)state;
	itc_scan_position(a.port, "TRIM", epoch, sizeof(epoch), &old);
	for (int i = 0; i < 5; i++)
		itc_publish(&a, "TRIM", NULL, 0);
	scan_when_both_have("TRIM", 5, epoch, sizeof(epoch), &recent);
	assert_true(it_redis(&a, NULL, 0, "XTRIM tickpush:stream MAXLEN 2") > 0);
	assert_int_equal(it_redis(&a, NULL, 0, "XLEN tickpush:stream"), 2);
	it_setup(&c, "cluster-c");
	itc_share_redis(&c, &a);
	itc_start(&c, NULL);
	itc_open(&old_s, c.port, NULL);
	itc_subscribe(&old_s, "TRIM", true, epoch, old);
	assert_false(old_s.recovered);
	/* The gap may follow "subscribed" after a pause on a loaded box. */
	for (double limit = it_now() + 20; !old_s.gaps && it_now() < limit;)
		itc_collect(&old_s, 0.3);
	itc_collect(&old_s, 0.3);
	assert_int_equal(old_s.gaps, 1);
	assert_int_equal(old_s.n, 0);
	itc_open(&new_s, c.port, NULL);
	itc_subscribe(&new_s, "TRIM", true, epoch, recent);
	assert_true(new_s.recovered);
	itc_publish(&a, "TRIM", id, sizeof(id));
	assert_true(itc_wait_frames(&new_s, 1, 10));
	itc_collect(&new_s, 0.3);
	assert_int_equal(new_s.gaps, 0);
	assert_int_equal(new_s.n, 1);
	assert_string_equal(new_s.frames[0].id, id);
	itc_close(&old_s);
	itc_close(&new_s);
	assert_int_equal(it_finish(&c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_position_everywhere),
		cmocka_unit_test(test_scan_position_joins_on_other_instance),
		cmocka_unit_test(test_future_position_is_not_a_gap),
		cmocka_unit_test(test_expiry_has_one_position),
		cmocka_unit_test(test_poll_and_sse_resume_on_other_instance),
		cmocka_unit_test(test_trimmed_stream_is_a_gap_not_a_hole),
		cmocka_unit_test(test_kill_one_instance_others_go_on),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
