// The compat workflows through the Java client (kafka-clients): one static method per workflow.
//
// The Java half of the compatibility matrix; pyclient.py is the librdkafka half and the reference
// for what each workflow checks (same records, same expectations, similar details).
//
// Run as a single-file source program:
//   java -cp "<kafka libs>/*" Compat.java --bootstrap HOST:PORT[,...] [--admin-config FILE]
//        [--limited-config FILE] [--nonce N] [--timeout-s S] [WORKFLOW...]
// Output: JSON lines on stdout, first {"client":"java","version":...}, then one line per workflow
// {"workflow","status":"pass"|"fail"|"unavailable","detail","duration_s"}. Logs go to stderr.
// Exit 0 when every requested workflow ran, 2 for bad arguments or an unknown workflow id.

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.File;
import java.io.FileReader;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.internals.AppInfoParser;  // moved under internals in 4.4

public class Compat {
    static final String CLIENT = "java";

    // workflows.py's WORKFLOW_IDS, in its order: the order of a run without workflow ids.
    static final List<String> WORKFLOWS = List.of(
            "produce-acks-0", "produce-acks-1", "produce-acks-all", "idempotent-producer",
            "keyed-partitioning", "headers", "large-message",
            "compression-gzip", "compression-snappy", "compression-lz4", "compression-zstd",
            "transaction-commit", "transaction-abort", "read-committed-lso", "zombie-fencing",
            "consume-transform-produce",
            "group-join-leave", "rebalance-eager", "rebalance-cooperative", "static-membership",
            "admin-groups",
            "offset-commit-fetch", "offset-reset", "list-offsets-time", "seek-pause-resume",
            "delete-records", "log-compaction", "retention",
            "admin-topics", "admin-partitions", "admin-configs", "admin-cluster",
            "acl-admin", "acl-enforcement", "sasl-scram", "tls", "quotas");

    static final String SECURITY_OFF = "the deploy runs without SASL/TLS (security off); "
            + "deploy with SECURITY=sasl-tls to run it";

    /** The workflow ran and the engine did not behave as Kafka does. */
    static class Failed extends RuntimeException {
        Failed(String msg) { super(msg); }
    }

    /** The client has no API for the workflow, or the deploy lacks what it needs. */
    static class Unavailable extends RuntimeException {
        Unavailable(String msg) { super(msg); }
    }

    interface Workflow { String run() throws Exception; }

    // The target, set once from the arguments.
    static String bootstrap;
    static Properties security = new Properties();   // the admin principal's settings (may be empty)
    static Properties limited;                       // the principal without ACLs, or null
    static String nonce;
    static double timeoutS = 20;

    static long timeoutMs() { return (long) (timeoutS * 1000); }

    static String name(String workflow) { return "compat-" + workflow + "-" + CLIENT + "-" + nonce; }

    static String name(String workflow, String suffix) { return name(workflow) + "-" + suffix; }

    // ---------------------------------------------------------------- client configs and helpers

    /** Every client's config: the bootstrap, the security settings, then the extras (key, value, ...). */
    static Properties conf(Properties base, Object... extra) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("socket.connection.setup.timeout.ms", "5000");
        p.putAll(base);
        for (int i = 0; i < extra.length; i += 2) {
            p.put(extra[i].toString(), extra[i + 1].toString());
        }
        return p;
    }

    static Admin admin(Properties base, Object... extra) {
        Properties p = conf(base, extra);
        // Bound every admin call: a call past these fails with a TimeoutException instead of hanging.
        p.putIfAbsent("request.timeout.ms", String.valueOf(timeoutMs()));
        p.putIfAbsent("default.api.timeout.ms", String.valueOf(timeoutMs()));
        return Admin.create(p);
    }

    static Admin admin() { return admin(security); }

    static KafkaProducer<byte[], byte[]> producer(Properties base, Object... extra) {
        Properties p = conf(base, extra);
        // send() blocks at most this long for metadata; transactional calls too.
        p.putIfAbsent("max.block.ms", String.valueOf(timeoutMs()));
        // A record is acknowledged or failed within the workflow's bound, not Java's 2 minutes
        // (delivery.timeout.ms must cover linger.ms + request.timeout.ms).
        p.putIfAbsent("request.timeout.ms", String.valueOf(timeoutMs() / 2));
        p.putIfAbsent("delivery.timeout.ms", String.valueOf(timeoutMs()));
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    static KafkaProducer<byte[], byte[]> producer(Object... extra) { return producer(security, extra); }

    static KafkaConsumer<byte[], byte[]> consumer(Object... extra) {
        Properties p = conf(security, extra);
        p.putIfAbsent("default.api.timeout.ms", String.valueOf(timeoutMs()));
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    static void close(KafkaConsumer<?, ?> c) {
        if (c != null) {
            c.close(CloseOptions.timeout(Duration.ofSeconds(5)));
        }
    }

    /** A future's value within the timeout; an ExecutionException gives way to its cause. */
    static <T> T get(Future<T> f) throws Exception {
        try {
            return f.get(timeoutMs(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception ? (Exception) e.getCause() : e;
        } catch (TimeoutException e) {
            throw new org.apache.kafka.common.errors.TimeoutException("no answer within " + fmt(timeoutS) + " s");
        }
    }

    /** The Kafka error name of an exception, or its class where it is no protocol error of its own. */
    static String errorName(Throwable e) {
        // forException falls back to a superclass's error (an SslAuthenticationException would
        // read INVALID_CONFIG): name the error only where it maps to exactly this class.
        Errors err = Errors.forException(e);
        Throwable mapped = err.exception();
        return mapped != null && mapped.getClass() == e.getClass() ? err.name() : e.getClass().getSimpleName();
    }

    static Throwable rootOf(Throwable e) {
        return (e instanceof ExecutionException && e.getCause() != null) ? e.getCause() : e;
    }

    static void sleep(long ms) throws InterruptedException { Thread.sleep(ms); }

    static long now() { return System.nanoTime() / 1_000_000; }

    static List<byte[]> values(int n, String tag) {
        List<byte[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(bytes(tag + "-" + i));
        }
        return out;
    }

    static byte[] bytes(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    static String str(byte[] b) { return b == null ? "" : new String(b, StandardCharsets.UTF_8); }

    static List<String> strs(List<ConsumerRecord<byte[], byte[]>> recs) {
        return recs.stream().map(r -> str(r.value())).collect(Collectors.toList());
    }

    static List<Long> offsets(List<ConsumerRecord<byte[], byte[]>> recs) {
        return recs.stream().map(ConsumerRecord::offset).collect(Collectors.toList());
    }

    static List<Long> range(long from, long to) {
        List<Long> out = new ArrayList<>();
        for (long i = from; i < to; i++) {
            out.add(i);
        }
        return out;
    }

    /** A topic created for one workflow (every partition led) and deleted when closed, best effort. */
    static class Topic implements AutoCloseable {
        final String name;

        Topic(String name, int partitions, Map<String, String> config) throws Exception {
            this.name = name;
            try (Admin a = admin()) {
                NewTopic nt = new NewTopic(name, Optional.of(partitions), Optional.empty()).configs(config);
                get(a.createTopics(List.of(nt)).all());
                try {
                    awaitLeaders(a, name, partitions);
                } catch (Exception e) {
                    close();
                    throw e;
                }
            }
        }

        Topic(String name, int partitions) throws Exception { this(name, partitions, Map.of()); }

        Topic(String name) throws Exception { this(name, 1, Map.of()); }

        @Override
        public void close() {
            try (Admin a = admin()) {
                get(a.deleteTopics(List.of(name)).all());
            } catch (Exception e) {
                System.err.println("compat: could not delete topic " + name + ": " + e);
            }
        }
    }

    static void awaitLeaders(Admin a, String topic, int partitions) throws Exception {
        long deadline = now() + timeoutMs();
        while (now() < deadline) {
            try {
                TopicDescription d = get(a.describeTopics(List.of(topic)).allTopicNames()).get(topic);
                if (d.partitions().size() >= partitions
                        && d.partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty())) {
                    return;
                }
            } catch (UnknownTopicOrPartitionException e) {
                // not in the metadata yet
            }
            sleep(200);
        }
        throw new Failed("topic " + topic + " has no leader for every partition after " + fmt(timeoutS) + " s");
    }

    /** Produce values (one producer: given, or made from extra and closed) and wait for every ack. */
    static List<RecordMetadata> produce(KafkaProducer<byte[], byte[]> given, String topic, List<byte[]> vals,
                                        byte[] key, Integer partition, Iterable<Header> headers,
                                        Long timestampMs, Properties base, Object... extra) throws Exception {
        KafkaProducer<byte[], byte[]> p = given != null ? given : producer(base, extra);
        try {
            List<Future<RecordMetadata>> futures = new ArrayList<>();
            for (byte[] v : vals) {
                futures.add(p.send(new ProducerRecord<>(topic, partition, timestampMs, key, v, headers)));
            }
            p.flush();
            List<RecordMetadata> acked = new ArrayList<>();
            long deadline = now() + timeoutMs();
            int left = 0;
            for (Future<RecordMetadata> f : futures) {
                try {
                    acked.add(f.get(Math.max(1, deadline - now()), TimeUnit.MILLISECONDS));
                } catch (TimeoutException e) {
                    left++;
                } catch (ExecutionException e) {
                    throw (Exception) e.getCause();
                }
            }
            if (left > 0) {
                throw new Failed(left + " records not acknowledged within " + fmt(timeoutS) + " s");
            }
            return acked;
        } finally {
            if (given == null) {
                p.close(Duration.ofSeconds(5));
            }
        }
    }

    static List<RecordMetadata> produce(String topic, List<byte[]> vals, Object... extra) throws Exception {
        return produce(null, topic, vals, null, null, null, null, security, extra);
    }

    static List<RecordMetadata> produce(KafkaProducer<byte[], byte[]> p, String topic, List<byte[]> vals)
            throws Exception {
        return produce(p, topic, vals, null, null, null, null, security);
    }

    /** Assign every partition from the beginning and read until n records or the deadline. */
    static List<ConsumerRecord<byte[], byte[]>> read(String topic, int n, int partitions, String isolation,
                                                      long untilMs) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        // No group: an assigned reader needs none and leaves nothing behind on the broker.
        try (KafkaConsumer<byte[], byte[]> c = consumer("enable.auto.commit", "false",
                "isolation.level", isolation)) {
            List<TopicPartition> tps = IntStream.range(0, partitions)
                    .mapToObj(i -> new TopicPartition(topic, i)).collect(Collectors.toList());
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = now() + untilMs;
            while (out.size() < n && now() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    out.add(r);
                }
            }
        }
        return out;
    }

    static List<ConsumerRecord<byte[], byte[]>> read(String topic, int n) {
        return read(topic, n, 1, "read_uncommitted", timeoutMs());
    }

    static void sameValues(List<ConsumerRecord<byte[], byte[]>> got, List<byte[]> want, String what) {
        List<String> seen = strs(got).stream().sorted().collect(Collectors.toList());
        List<String> wanted = want.stream().map(Compat::str).sorted().collect(Collectors.toList());
        if (!seen.equals(wanted)) {
            throw new Failed(what + ": read " + got.size() + " records, want " + want.size()
                    + " (first difference " + firstDiff(seen, wanted) + ")");
        }
    }

    static String firstDiff(List<String> a, List<String> b) {
        for (int i = 0; i < Math.min(a.size(), b.size()); i++) {
            if (!a.get(i).equals(b.get(i))) {
                return "'" + a.get(i) + "' vs '" + b.get(i) + "'";
            }
        }
        return "length " + a.size() + " vs " + b.size();
    }

    static String fmt(double d) {
        return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
    }

    // ---------------------------------------------------------------- produce

    static String acks(String wid, String acks) throws Exception {
        try (Topic t = new Topic(name(wid))) {
            List<byte[]> want = values(100, "v");
            List<RecordMetadata> acked = produce(t.name, want, "acks", acks);
            sameValues(read(t.name, want.size()), want, "acks=" + acks);
            if (!acks.equals("0")) {
                List<Long> offs = acked.stream().map(RecordMetadata::offset).sorted().collect(Collectors.toList());
                if (!offs.equals(range(0, 100))) {
                    throw new Failed("acks=" + acks + ": offsets " + offs.subList(0, Math.min(3, offs.size()))
                            + "..., want 0..99");
                }
            }
            return "100 records acked (acks=" + acks + ") and read back";
        }
    }

    static String idempotentProducer() throws Exception {
        try (Topic t = new Topic(name("idempotent-producer"))) {
            List<byte[]> want = values(500, "v");
            List<RecordMetadata> acked = produce(t.name, want, "enable.idempotence", "true", "acks", "all",
                    "max.in.flight.requests.per.connection", "5", "linger.ms", "2");
            List<Long> offs = acked.stream().map(RecordMetadata::offset).sorted().collect(Collectors.toList());
            if (!offs.equals(range(0, 500))) {
                throw new Failed("idempotent producer's offsets are not contiguous 0..499");
            }
            // Ask for one more than was sent: a duplicate would show up as the 501st.
            sameValues(read(t.name, 501, 1, "read_uncommitted", 3000), want, "idempotent");
            return "500 records, contiguous offsets, no duplicates";
        }
    }

    static String keyedPartitioning() throws Exception {
        try (Topic t = new Topic(name("keyed-partitioning"), 4);
             KafkaProducer<byte[], byte[]> p = producer()) {
            for (String k : List.of("a", "b", "c")) {
                produce(p, t.name, values(20, k), bytes(k), null, null, null, security);
            }
            List<ConsumerRecord<byte[], byte[]>> got = read(t.name, 60, 4, "read_uncommitted", timeoutMs());
            Map<String, Set<Integer>> byKey = new LinkedHashMap<>();
            Map<String, List<String>> order = new LinkedHashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : got) {
                byKey.computeIfAbsent(str(r.key()), k -> new TreeSet<>()).add(r.partition());
                order.computeIfAbsent(str(r.key()), k -> new ArrayList<>()).add(str(r.value()));
            }
            if (got.size() != 60 || byKey.values().stream().anyMatch(s -> s.size() != 1)) {
                throw new Failed(got.size() + " of 60 read; partitions per key: " + byKey);
            }
            for (Map.Entry<String, List<String>> e : order.entrySet()) {
                List<String> want = values(20, e.getKey()).stream().map(Compat::str).collect(Collectors.toList());
                if (!e.getValue().equals(want)) {
                    throw new Failed("key " + e.getKey() + ": records out of order");
                }
            }
            return "3 keys x 20 records: one partition per key, in order";
        }
    }

    static String headers() throws Exception {
        try (Topic t = new Topic(name("headers"))) {
            List<String[]> want = List.of(new String[]{"trace", "abc"}, new String[]{"dup", "1"},
                    new String[]{"dup", "2"}, new String[]{"empty", ""});
            RecordHeaders hdrs = new RecordHeaders();
            for (String[] h : want) {
                hdrs.add(h[0], bytes(h[1]));
            }
            produce(null, t.name, List.of(bytes("x")), null, null, hdrs, null, security);
            List<ConsumerRecord<byte[], byte[]>> got = read(t.name, 1);
            List<String> back = new ArrayList<>();
            if (!got.isEmpty()) {
                for (Header h : got.get(0).headers()) {
                    back.add(h.key() + "=" + str(h.value()));
                }
            }
            List<String> wanted = want.stream().map(h -> h[0] + "=" + h[1]).collect(Collectors.toList());
            if (!back.equals(wanted)) {
                throw new Failed("headers came back as " + back + ", want " + wanted);
            }
            return "4 headers (a repeated key, an empty value) round-trip in order";
        }
    }

    static String largeMessage() throws Exception {
        int maxBytes = 1_048_576;
        try (Topic t = new Topic(name("large-message"), 1, Map.of("max.message.bytes", String.valueOf(maxBytes)))) {
            // The limit is on the whole batch: leave room for the batch and record headers.
            byte[] fits = new byte[maxBytes - 200];
            Arrays.fill(fits, (byte) 'x');
            // max.request.size above the topic's limit, so that the broker, not the client, judges.
            produce(t.name, List.of(fits), "max.request.size", 4 * maxBytes, "compression.type", "none");
            List<ConsumerRecord<byte[], byte[]>> got = read(t.name, 1);
            if (got.isEmpty() || got.get(0).value().length != fits.length) {
                throw new Failed("the record at the limit did not come back whole");
            }
            byte[] over = new byte[maxBytes + 1024];
            Arrays.fill(over, (byte) 'y');
            try {
                produce(t.name, List.of(over), "max.request.size", 4 * maxBytes, "compression.type", "none",
                        "retries", "0");
            } catch (RecordTooLargeException e) {
                return fits.length + " B accepted; " + over.length + " B refused (MESSAGE_TOO_LARGE)";
            } catch (Failed e) {
                throw e;
            } catch (Exception e) {
                throw new Failed("over the limit refused with " + errorName(e) + ", want MESSAGE_TOO_LARGE");
            }
            throw new Failed("a record above max.message.bytes=" + maxBytes + " was accepted");
        }
    }

    // ---------------------------------------------------------------- compression

    static String compression(String codec) throws Exception {
        try (Topic t = new Topic(name("compression-" + codec))) {
            List<byte[]> want = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                want.add(bytes(codec + "-" + i + "-" + "z".repeat(200)));
            }
            produce(t.name, want, "compression.type", codec, "linger.ms", "20");
            sameValues(read(t.name, want.size()), want, codec);
            return "200 records in " + codec + " batches round-trip";
        }
    }

    // ---------------------------------------------------------------- transactions

    static KafkaProducer<byte[], byte[]> txnProducer(String txnId) {
        KafkaProducer<byte[], byte[]> p = producer("transactional.id", txnId, "transaction.timeout.ms", "30000");
        try {
            p.initTransactions();  // bounded by max.block.ms
        } catch (RuntimeException e) {
            p.close(Duration.ZERO);
            throw e;
        }
        return p;
    }

    static ProducerRecord<byte[], byte[]> rec(String topic, String value) {
        return new ProducerRecord<>(topic, bytes(value));
    }

    static String transactionCommit() throws Exception {
        try (Topic t = new Topic(name("transaction-commit"));
             KafkaProducer<byte[], byte[]> p = txnProducer(name("transaction-commit", "txn"))) {
            p.beginTransaction();
            for (byte[] v : values(10, "v")) {
                p.send(new ProducerRecord<>(t.name, v));
            }
            p.commitTransaction();
            sameValues(read(t.name, 10, 1, "read_committed", timeoutMs()), values(10, "v"), "committed");
            return "10 records committed, all visible to read_committed";
        }
    }

    static String transactionAbort() throws Exception {
        try (Topic t = new Topic(name("transaction-abort"));
             KafkaProducer<byte[], byte[]> p = txnProducer(name("transaction-abort", "txn"))) {
            p.beginTransaction();
            for (byte[] v : values(10, "aborted")) {
                p.send(new ProducerRecord<>(t.name, v));
            }
            p.flush();  // the aborted records reach the log before the abort marker
            p.abortTransaction();
            p.beginTransaction();
            p.send(rec(t.name, "after"));
            p.commitTransaction();
            List<String> committed = strs(read(t.name, 2, 1, "read_committed", 5000));
            if (!committed.equals(List.of("after"))) {
                throw new Failed("read_committed saw " + committed.subList(0, Math.min(3, committed.size()))
                        + ", want only 'after'");
            }
            int everything = read(t.name, 11, 1, "read_uncommitted", timeoutMs()).size();
            if (everything != 11) {
                throw new Failed("read_uncommitted saw " + everything + " records, want 11");
            }
            return "aborted records hidden from read_committed, visible to read_uncommitted";
        }
    }

    static String readCommittedLso() throws Exception {
        try (Topic t = new Topic(name("read-committed-lso"))) {
            produce(t.name, List.of(bytes("before")));
            try (KafkaProducer<byte[], byte[]> p = txnProducer(name("read-committed-lso", "txn"))) {
                p.beginTransaction();
                p.send(rec(t.name, "open"));
                p.flush();
                produce(t.name, List.of(bytes("after-open")));
                List<String> early = strs(read(t.name, 3, 1, "read_committed", 3000));
                if (!early.equals(List.of("before"))) {
                    throw new Failed("with a transaction open read_committed saw " + early
                            + ", want only 'before' (stop at the LSO)");
                }
                p.commitTransaction();
                List<String> late = strs(read(t.name, 3, 1, "read_committed", timeoutMs()));
                if (!late.equals(List.of("before", "open", "after-open"))) {
                    throw new Failed("after commit read_committed saw " + late);
                }
                return "read_committed stopped at the open transaction and went on after its commit";
            }
        }
    }

    /** Whether an exception (or one it wraps) says the producer was fenced. */
    static Throwable fencing(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof ProducerFencedException || c instanceof InvalidProducerEpochException) {
                return c;
            }
        }
        return null;
    }

    static String zombieFencing() throws Exception {
        try (Topic t = new Topic(name("zombie-fencing"))) {
            String txnId = name("zombie-fencing", "txn");
            KafkaProducer<byte[], byte[]> old = txnProducer(txnId);
            try {
                old.beginTransaction();
                old.send(rec(t.name, "zombie"));
                old.flush();
                // A second producer with the same id bumps the epoch: the old one is a zombie now.
                try (KafkaProducer<byte[], byte[]> live = txnProducer(txnId)) {
                    live.beginTransaction();
                    live.send(rec(t.name, "live"));
                    live.commitTransaction();
                }
                try {
                    old.send(rec(t.name, "zombie-2"));
                    old.commitTransaction();
                } catch (Exception e) {
                    Throwable fenced = fencing(e);
                    if (fenced == null) {
                        throw new Failed("the zombie failed with " + e.getClass().getSimpleName() + ": "
                                + e.getMessage() + ", want a fencing error");
                    }
                    List<String> got = strs(read(t.name, 3, 1, "read_committed", 4000));
                    if (!got.equals(List.of("live"))) {
                        throw new Failed("read_committed saw " + got + ", want only 'live'");
                    }
                    return "the zombie was fenced (" + errorName(fenced) + "); only the live transaction is visible";
                }
                throw new Failed("the zombie producer committed after a newer producer took its transactional.id");
            } finally {
                old.close(Duration.ZERO);
            }
        }
    }

    static String consumeTransformProduce() throws Exception {
        String wid = "consume-transform-produce";
        try (Topic src = new Topic(name(wid, "in")); Topic dst = new Topic(name(wid, "out"))) {
            produce(src.name, values(10, "v"));
            long committed;
            try (KafkaConsumer<byte[], byte[]> c = consumer("group.id", name(wid, "group"),
                    "enable.auto.commit", "false", "auto.offset.reset", "earliest",
                    "isolation.level", "read_committed");
                 KafkaProducer<byte[], byte[]> p = txnProducer(name(wid, "txn"))) {
                c.subscribe(List.of(src.name));
                List<ConsumerRecord<byte[], byte[]>> batch = new ArrayList<>();
                long deadline = now() + timeoutMs();
                while (batch.size() < 10 && now() < deadline) {
                    c.poll(Duration.ofMillis(200)).forEach(batch::add);
                }
                if (batch.size() != 10) {
                    throw new Failed("read " + batch.size() + " of 10 input records");
                }
                p.beginTransaction();
                for (ConsumerRecord<byte[], byte[]> r : batch) {
                    p.send(rec(dst.name, str(r.value()).toUpperCase()));
                }
                TopicPartition tp = new TopicPartition(src.name, 0);
                long next = batch.get(batch.size() - 1).offset() + 1;
                p.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(next)), c.groupMetadata());
                p.commitTransaction();
                OffsetAndMetadata om = c.committed(Set.of(tp), Duration.ofMillis(timeoutMs())).get(tp);
                committed = om == null ? -1 : om.offset();
            }
            List<byte[]> want = values(10, "v").stream().map(v -> bytes(str(v).toUpperCase()))
                    .collect(Collectors.toList());
            sameValues(read(dst.name, 10, 1, "read_committed", timeoutMs()), want, "transformed");
            if (committed != 10) {
                throw new Failed("the group's committed offset is " + committed + ", want 10");
            }
            return "10 records transformed; output and input offsets committed in one transaction";
        }
    }

    // ---------------------------------------------------------------- groups

    /** One classic-protocol group member; the caller's loop polls it. */
    static class Member implements ConsumerRebalanceListener {
        final Set<Integer> assigned = new TreeSet<>();
        int revokedTotal = 0;
        final boolean cooperative;
        final KafkaConsumer<byte[], byte[]> c;

        Member(String topic, String group, Object... extra) {
            List<Object> kv = new ArrayList<>(List.of("group.id", group, "group.protocol", "classic",
                    "enable.auto.commit", "false", "auto.offset.reset", "earliest",
                    "session.timeout.ms", "10000", "heartbeat.interval.ms", "500"));
            kv.addAll(Arrays.asList(extra));
            c = consumer(kv.toArray());
            cooperative = Arrays.asList(extra).contains("org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
            c.subscribe(List.of(topic), this);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> parts) {
            // Cooperative rebalances hand over only the added partitions; eager ones the whole assignment.
            if (!cooperative) {
                assigned.clear();
            }
            parts.forEach(p -> assigned.add(p.partition()));
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> parts) {
            revokedTotal += parts.size();
            parts.forEach(p -> assigned.remove(p.partition()));
        }

        void poll() { c.poll(Duration.ofMillis(50)); }

        void close() { Compat.close(c); }
    }

    interface Check { boolean ok(); }

    static void settle(List<Member> members, Check want, String what) {
        long deadline = now() + 2 * timeoutMs();
        while (now() < deadline) {
            members.forEach(Member::poll);
            if (want.ok()) {
                return;
            }
        }
        throw new Failed(what + ": assignments " + members.stream().map(m -> m.assigned.toString())
                .collect(Collectors.toList()) + " after " + fmt(2 * timeoutS) + " s");
    }

    /** Two members of one group on a 4-partition topic, settled at 2 partitions each. */
    static Member[] twoMembers(String wid, List<Member> opened, Object... extra) {
        String topic = name(wid);
        String group = name(wid, "group");
        Member a = new Member(topic, group, extra);
        opened.add(a);
        settle(List.of(a), () -> a.assigned.equals(Set.of(0, 1, 2, 3)), "first member");
        Member b = new Member(topic, group, extra);
        opened.add(b);
        settle(List.of(a, b), () -> a.assigned.size() == 2 && b.assigned.size() == 2
                && a.assigned.stream().noneMatch(b.assigned::contains), "second member joins");
        return new Member[]{a, b};
    }

    static void closeAll(List<Member> members) {
        for (Member m : members) {
            try {
                m.close();
            } catch (Exception e) {
                System.err.println("compat: closing a member: " + e);
            }
        }
    }

    static String groupJoinLeave() throws Exception {
        List<Member> opened = new ArrayList<>();
        try (Topic t = new Topic(name("group-join-leave"), 4)) {
            Member[] ab = twoMembers("group-join-leave", opened);
            ab[1].close();  // a dynamic member's close sends LeaveGroup
            opened.remove(ab[1]);
            settle(List.of(ab[0]), () -> ab[0].assigned.equals(Set.of(0, 1, 2, 3)), "after the second member left");
            return "4 partitions split 2/2, then all 4 to the member that stayed";
        } finally {
            closeAll(opened);
        }
    }

    static String rebalanceEager() throws Exception {
        List<Member> opened = new ArrayList<>();
        try (Topic t = new Topic(name("rebalance-eager"), 4)) {
            Member[] ab = twoMembers("rebalance-eager", opened,
                    "partition.assignment.strategy", "org.apache.kafka.clients.consumer.RangeAssignor");
            int revoked = ab[0].revokedTotal;
            if (revoked != 4) {
                throw new Failed("eager join revoked " + revoked + " of the first member's 4 partitions, want 4");
            }
            return "the join revoked all 4 partitions of the first member, then split them 2/2";
        } finally {
            closeAll(opened);
        }
    }

    static String rebalanceCooperative() throws Exception {
        List<Member> opened = new ArrayList<>();
        try (Topic t = new Topic(name("rebalance-cooperative"), 4)) {
            Member[] ab = twoMembers("rebalance-cooperative", opened,
                    "partition.assignment.strategy", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
            int revoked = ab[0].revokedTotal;
            if (revoked != 2) {
                throw new Failed("cooperative join revoked " + revoked + " partitions, want 2 (only those moved)");
            }
            return "the join revoked only the 2 partitions that moved";
        } finally {
            closeAll(opened);
        }
    }

    static String staticMembership() throws Exception {
        List<Member> opened = new ArrayList<>();
        try (Topic t = new Topic(name("static-membership"), 4)) {
            String group = name("static-membership", "group");
            Member a = new Member(t.name, group, "group.instance.id", "static-a");
            opened.add(a);
            Member b = new Member(t.name, group, "group.instance.id", "static-b");
            opened.add(b);
            settle(List.of(a, b), () -> a.assigned.size() == 2 && b.assigned.size() == 2, "two static members");
            Set<Integer> before = new TreeSet<>(a.assigned);
            // A static member's close does not leave the group (the Java client sends no LeaveGroup
            // for a group.instance.id by default): it comes back under the same instance id and
            // gets the same partitions, and b keeps its own.
            a.close();
            opened.remove(a);
            int bRevoked = b.revokedTotal;
            Member a2 = new Member(t.name, group, "group.instance.id", "static-a");
            opened.add(a2);
            settle(List.of(a2, b), () -> a2.assigned.equals(before), "the static member rejoins");
            int moved = b.revokedTotal - bRevoked;
            if (moved != 0) {
                throw new Failed("the rejoin revoked " + moved + " partitions of the other member, want 0");
            }
            return "a static member rejoined with its own partitions; the other member kept its";
        } finally {
            closeAll(opened);
        }
    }

    static Set<String> consumerGroups(Admin a) throws Exception {
        return get(a.listGroups(ListGroupsOptions.forConsumerGroups()).valid()).stream()
                .map(GroupListing::groupId).collect(Collectors.toSet());
    }

    static String adminGroups() throws Exception {
        try (Topic t = new Topic(name("admin-groups")); Admin a = admin()) {
            String group = name("admin-groups", "group");
            produce(t.name, List.of(bytes("x")));
            KafkaConsumer<byte[], byte[]> c = consumer("group.id", group, "auto.offset.reset", "earliest",
                    "enable.auto.commit", "false");
            try {
                c.subscribe(List.of(t.name));
                long deadline = now() + timeoutMs();
                while (now() < deadline && c.poll(Duration.ofMillis(200)).isEmpty()) {
                    // wait for the join and the record
                }
                c.commitSync(Duration.ofMillis(timeoutMs()));
                if (!consumerGroups(a).contains(group)) {
                    throw new Failed("ListGroups does not name the live group");
                }
                ConsumerGroupDescription desc = get(a.describeConsumerGroups(List.of(group)).describedGroups().get(group));
                if (desc.members().size() != 1) {
                    throw new Failed("DescribeGroups: " + desc.members().size() + " members, want 1");
                }
            } finally {
                close(c);
            }
            get(a.deleteConsumerGroups(List.of(group)).all());
            if (consumerGroups(a).contains(group)) {
                throw new Failed("the deleted group is still listed");
            }
            return "group listed, described (1 member), deleted";
        }
    }

    // ---------------------------------------------------------------- offsets

    /** Read up to n records as a member of the group, one per poll; commit what was read. */
    static List<ConsumerRecord<byte[], byte[]>> groupRead(String topic, String group, int n, String reset) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        KafkaConsumer<byte[], byte[]> c = consumer("group.id", group, "enable.auto.commit", "false",
                "auto.offset.reset", reset, "max.poll.records", "1");
        try {
            c.subscribe(List.of(topic));
            long deadline = now() + timeoutMs();
            while (out.size() < n && now() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(out::add);
            }
            if (!out.isEmpty()) {
                c.commitSync(Duration.ofMillis(timeoutMs()));
            }
        } finally {
            close(c);
        }
        return out;
    }

    static String offsetCommitFetch() throws Exception {
        try (Topic t = new Topic(name("offset-commit-fetch")); Admin a = admin()) {
            String group = name("offset-commit-fetch", "group");
            produce(t.name, values(10, "v"));
            List<ConsumerRecord<byte[], byte[]>> first = groupRead(t.name, group, 4, "earliest");
            OffsetAndMetadata om = get(a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata())
                    .get(new TopicPartition(t.name, 0));
            long at = om == null ? -1 : om.offset();
            if (at != first.size()) {
                throw new Failed("committed offset fetched as " + at + ", want " + first.size());
            }
            // Ask for exactly what is left: a member that resumed anywhere else reads other offsets.
            List<Long> rest = offsets(groupRead(t.name, group, (int) (10 - at), "earliest"));
            if (!rest.equals(range(at, 10))) {
                throw new Failed("a new member resumed at " + rest.subList(0, Math.min(1, rest.size()))
                        + ", want " + at);
            }
            return "committed " + at + ", fetched " + at + "; a new member resumed at " + at;
        }
    }

    static String offsetReset() throws Exception {
        try (Topic t = new Topic(name("offset-reset")); Admin a = admin()) {
            produce(t.name, values(5, "v"));
            List<ConsumerRecord<byte[], byte[]>> early = groupRead(t.name, name("offset-reset", "e"), 5, "earliest");
            if (early.size() != 5) {
                throw new Failed("earliest read " + early.size() + " of 5");
            }
            String latestGroup = name("offset-reset", "l");
            List<ConsumerRecord<byte[], byte[]>> late = groupRead(t.name, latestGroup, 1, "latest");
            if (!late.isEmpty()) {
                throw new Failed("latest read " + late.size() + " old records, want 0");
            }
            get(a.alterConsumerGroupOffsets(latestGroup,
                    Map.of(new TopicPartition(t.name, 0), new OffsetAndMetadata(2))).all());
            List<Long> moved = offsets(groupRead(t.name, latestGroup, 3, "latest"));
            if (!moved.equals(List.of(2L, 3L, 4L))) {
                throw new Failed("after the admin set offset 2 the group read " + moved);
            }
            return "earliest read all, latest none; the admin's offset 2 was where the group resumed";
        }
    }

    static String listOffsetsTime() throws Exception {
        try (Topic t = new Topic(name("list-offsets-time")); Admin a = admin();
             KafkaProducer<byte[], byte[]> p = producer()) {
            long base = System.currentTimeMillis() - 60_000;
            for (int i = 0; i < 5; i++) {
                produce(p, t.name, List.of(bytes("t" + i)), null, null, null, base + i * 1000L, security);
            }
            TopicPartition tp = new TopicPartition(t.name, 0);
            List<Long> got = new ArrayList<>();
            for (OffsetSpec spec : List.of(OffsetSpec.earliest(), OffsetSpec.latest(), OffsetSpec.forTimestamp(base + 2500))) {
                got.add(get(a.listOffsets(Map.of(tp, spec)).partitionResult(tp)).offset());
            }
            if (!got.equals(List.of(0L, 5L, 3L))) {
                throw new Failed("earliest/latest/by-time = " + got + ", want [0, 5, 3]");
            }
            long found;
            try (KafkaConsumer<byte[], byte[]> c = consumer()) {
                OffsetAndTimestamp ot = c.offsetsForTimes(Map.of(tp, base + 1000), Duration.ofMillis(timeoutMs())).get(tp);
                found = ot == null ? -1 : ot.offset();
            }
            if (found != 1) {
                throw new Failed("the consumer's offsetsForTimes gave " + found + ", want 1");
            }
            return "earliest 0, latest 5, by timestamp 3 (admin) and 1 (consumer)";
        }
    }

    static String seekPauseResume() throws Exception {
        try (Topic t = new Topic(name("seek-pause-resume"), 2)) {
            produce(null, t.name, values(5, "p0"), null, 0, null, null, security);
            produce(null, t.name, values(5, "p1"), null, 1, null, null, security);
            TopicPartition p0 = new TopicPartition(t.name, 0);
            TopicPartition p1 = new TopicPartition(t.name, 1);
            try (KafkaConsumer<byte[], byte[]> c = consumer("enable.auto.commit", "false")) {
                c.assign(List.of(p0, p1));
                c.seekToBeginning(List.of(p0, p1));
                c.pause(List.of(p1));
                List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
                long deadline = now() + 4000;
                while (now() < deadline) {
                    c.poll(Duration.ofMillis(200)).forEach(got::add);
                }
                Set<Integer> parts = got.stream().map(ConsumerRecord::partition).collect(Collectors.toCollection(TreeSet::new));
                if (!parts.equals(Set.of(0)) || got.size() != 5) {
                    throw new Failed("while partition 1 was paused the consumer read " + parts
                            + " (" + got.size() + " records)");
                }
                c.resume(List.of(p1));
                c.seek(p0, 3);
                List<ConsumerRecord<byte[], byte[]>> more = new ArrayList<>();
                deadline = now() + timeoutMs();
                while (more.size() < 7 && now() < deadline) {
                    c.poll(Duration.ofMillis(200)).forEach(more::add);
                }
                List<Long> offs0 = more.stream().filter(r -> r.partition() == 0).map(ConsumerRecord::offset)
                        .collect(Collectors.toList());
                if (!offs0.equals(List.of(3L, 4L)) || more.size() != 7) {
                    throw new Failed("after seek(3) and resume: partition 0 offsets " + offs0 + ", "
                            + more.size() + " records");
                }
                return "a paused partition stayed silent; resume delivered it; seek(3) replayed 3 and 4";
            }
        }
    }

    // ---------------------------------------------------------------- storage

    static String deleteRecords() throws Exception {
        try (Topic t = new Topic(name("delete-records")); Admin a = admin()) {
            produce(t.name, values(10, "v"));
            TopicPartition tp = new TopicPartition(t.name, 0);
            long low = get(a.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(6))).lowWatermarks().get(tp))
                    .lowWatermark();
            List<Long> got = offsets(read(t.name, 10, 1, "read_uncommitted", 4000));
            if (low != 6 || !got.equals(List.of(6L, 7L, 8L, 9L))) {
                throw new Failed("after DeleteRecords(6): low watermark " + low + ", read " + got);
            }
            return "DeleteRecords(6): log start 6, a reader from the beginning sees 6..9";
        }
    }

    static String logCompaction() throws Exception {
        Map<String, String> config = Map.of("cleanup.policy", "compact", "segment.ms", "100",
                "min.cleanable.dirty.ratio", "0.001", "min.compaction.lag.ms", "0", "delete.retention.ms", "100");
        try (Topic t = new Topic(name("log-compaction"), 1, config)) {
            String refused;
            try {
                produce(t.name, List.of(bytes("no-key")), "retries", "0");
                throw new Failed("a compacted topic accepted a record without a key");
            } catch (Failed e) {
                throw e;
            } catch (Exception e) {
                refused = errorName(e);
            }
            try (KafkaProducer<byte[], byte[]> p = producer()) {
                for (int round = 0; round < 5; round++) {
                    produce(p, t.name, List.of(bytes("k-" + round)), bytes("k"), null, null, null, security);
                    sleep(200);  // past segment.ms: each value in a segment of its own
                }
                long deadline = now() + 60_000;
                List<String> got = List.of();
                while (now() < deadline) {
                    produce(p, t.name, List.of(bytes("roll")), bytes("roller"), null, null, null, security);
                    got = read(t.name, 100, 1, "read_uncommitted", 1500).stream()
                            .filter(r -> "k".equals(str(r.key()))).map(r -> str(r.value())).collect(Collectors.toList());
                    if (got.equals(List.of("k-4"))) {
                        return "keyless record refused (" + refused + "); the cleaner kept only the key's latest value";
                    }
                    sleep(2000);
                }
                throw new Failed("after 60 s the key still has " + got.size() + " values (the cleaner never compacted)");
            }
        }
    }

    static String retention() throws Exception {
        try (Topic t = new Topic(name("retention"), 1, Map.of("retention.ms", "1000", "segment.ms", "200"));
             KafkaProducer<byte[], byte[]> p = producer(); Admin a = admin()) {
            produce(p, t.name, values(5, "v"));
            TopicPartition tp = new TopicPartition(t.name, 0);
            long deadline = now() + 60_000;
            while (now() < deadline) {
                sleep(1000);
                produce(p, t.name, List.of(bytes("roll")));  // rolls the old segment out of the active one
                long start = get(a.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp)).offset();
                if (start >= 5) {
                    return "retention.ms=1000: the log start moved to " + start;
                }
            }
            throw new Failed("after 60 s the log start offset had not moved (retention never deleted)"
                    + retentionCheckNote(a, t.name));
        }
    }

    /**
     * Why a retention wait may have come too soon: the leader deletes expired segments only every
     * log.retention.check.interval.ms (Kafka's default is 5 minutes), a broker setting no topic
     * config overrides. Best effort: empty when the broker does not say.
     */
    static String retentionCheckNote(Admin a, String topic) {
        try {
            Node leader = get(a.describeTopics(List.of(topic)).allTopicNames()).get(topic).partitions().get(0).leader();
            ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, leader.idString());
            ConfigEntry e = get(a.describeConfigs(List.of(broker)).values().get(broker))
                    .get("log.retention.check.interval.ms");
            return e == null || e.value() == null ? ""
                    : "; the leader, broker " + leader.id() + ", checks retention every " + e.value()
                    + " ms (log.retention.check.interval.ms)";
        } catch (Exception e) {
            return "";
        }
    }

    // ---------------------------------------------------------------- admin

    static String adminTopics() throws Exception {
        String name = name("admin-topics");
        try (Admin a = admin()) {
            get(a.createTopics(List.of(new NewTopic(name, Optional.of(3), Optional.empty()))).all());
            try {
                try {
                    get(a.createTopics(List.of(new NewTopic(name, Optional.of(3), Optional.empty()))).all());
                    throw new Failed("creating an existing topic succeeded");
                } catch (TopicExistsException e) {
                    // refused, as it must be
                } catch (Failed e) {
                    throw e;
                } catch (Exception e) {
                    throw new Failed("a duplicate create failed with " + errorName(e) + ", want TOPIC_ALREADY_EXISTS");
                }
                int n = get(a.describeTopics(List.of(name)).allTopicNames()).get(name).partitions().size();
                if (n != 3) {
                    throw new Failed("created with 3 partitions, metadata says " + n);
                }
            } finally {
                get(a.deleteTopics(List.of(name)).all());
            }
            long deadline = now() + timeoutMs();
            while (now() < deadline) {
                if (!get(a.listTopics().names()).contains(name)) {
                    return "created (3 partitions), duplicate refused, deleted";
                }
                sleep(300);
            }
            throw new Failed("the deleted topic is still in the metadata");
        }
    }

    static String adminPartitions() throws Exception {
        try (Topic t = new Topic(name("admin-partitions"), 2); Admin a = admin()) {
            get(a.createPartitions(Map.of(t.name, NewPartitions.increaseTo(5))).all());
            awaitLeaders(a, t.name, 5);
            produce(null, t.name, List.of(bytes("x")), null, 4, null, null, security);
            return "2 -> 5 partitions; the new partition 4 takes writes";
        }
    }

    static String adminConfigs() throws Exception {
        try (Topic t = new Topic(name("admin-configs")); Admin a = admin()) {
            ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, t.name);
            AlterConfigOp op = new AlterConfigOp(new ConfigEntry("retention.ms", "3600000"), AlterConfigOp.OpType.SET);
            get(a.incrementalAlterConfigs(Map.of(res, List.of(op))).all());
            long deadline = now() + timeoutMs();
            String value = null;
            while (now() < deadline) {
                Config cfg = get(a.describeConfigs(List.of(res)).values().get(res));
                ConfigEntry e = cfg.get("retention.ms");
                value = e == null ? null : e.value();
                if ("3600000".equals(value)) {
                    return "DescribeConfigs: " + cfg.entries().size() + " entries; retention.ms set to 3600000 and read back";
                }
                sleep(300);
            }
            throw new Failed("after IncrementalAlterConfigs retention.ms reads " + value + ", want 3600000");
        }
    }

    static String adminCluster() throws Exception {
        try (Admin a = admin()) {
            DescribeClusterResult d = a.describeCluster();
            String id = get(d.clusterId());
            Collection<Node> nodes = get(d.nodes());
            Node ctl = get(d.controller());
            if (id == null || id.isEmpty() || nodes.isEmpty()) {
                throw new Failed("DescribeCluster: id '" + id + "', " + nodes.size() + " nodes");
            }
            Set<String> racks = nodes.stream().map(n -> n.hasRack() ? n.rack() : "-")
                    .collect(Collectors.toCollection(TreeSet::new));
            return "cluster " + id + ": " + nodes.size() + " brokers, controller "
                    + (ctl == null || ctl.isEmpty() ? "None" : ctl.id()) + ", racks " + racks;
        }
    }

    // ---------------------------------------------------------------- security

    static void needSecurity() {
        if (security.isEmpty()) {
            throw new Unavailable(SECURITY_OFF);
        }
    }

    static AclBinding topicAcl(String topic, String principal, AclOperation op) {
        return new AclBinding(new ResourcePattern(ResourceType.TOPIC, topic, PatternType.LITERAL),
                new AccessControlEntry("User:" + principal, "*", op, AclPermissionType.ALLOW));
    }

    static AclBindingFilter topicAcls(String topic) {
        return new AclBindingFilter(new ResourcePatternFilter(ResourceType.TOPIC, topic, PatternType.LITERAL),
                AccessControlEntryFilter.ANY);
    }

    static String aclAdmin() throws Exception {
        needSecurity();
        String topic = name("acl-admin");
        try (Admin a = admin()) {
            AclBinding binding = topicAcl(topic, "compat-nobody", AclOperation.READ);
            get(a.createAcls(List.of(binding)).all());
            try {
                // ACLs reach each broker through the metadata log: allow a moment before it lists it.
                long deadline = now() + timeoutMs();
                Collection<AclBinding> found = List.of();
                while (now() < deadline) {
                    found = get(a.describeAcls(topicAcls(topic)).values());
                    if (found.contains(binding)) {
                        break;
                    }
                    sleep(300);
                }
                if (!found.contains(binding)) {
                    throw new Failed("DescribeAcls did not return the created binding (" + found.size() + " found)");
                }
                int n = get(a.deleteAcls(List.of(topicAcls(topic))).all()).size();
                if (n != 1) {
                    throw new Failed("DeleteAcls deleted " + n + " bindings, want 1");
                }
                return "ACL created, described and deleted";
            } finally {
                try {
                    get(a.deleteAcls(List.of(topicAcls(topic))).all());
                } catch (Exception e) {
                    System.err.println("compat: could not delete the ACLs on " + topic + ": " + e);
                }
            }
        }
    }

    /** The username in a config's sasl.jaas.config. */
    static String principal(Properties p) {
        Matcher m = Pattern.compile("username=\"([^\"]*)\"").matcher(p.getProperty("sasl.jaas.config", ""));
        if (!m.find()) {
            throw new Failed("the limited config names no username in sasl.jaas.config");
        }
        return m.group(1);
    }

    static String aclEnforcement() throws Exception {
        needSecurity();
        if (limited == null) {
            throw new Unavailable("no --limited-config: the deploy names no principal without ACLs");
        }
        String who = principal(limited);
        try (Topic t = new Topic(name("acl-enforcement")); Admin a = admin()) {
            // Idempotence off: an idempotent producer would first need InitProducerId, and the
            // question here is the topic's WRITE ACL.
            Object[] asLimited = {"retries", "0", "enable.idempotence", "false", "acks", "all"};
            try {
                produce(null, t.name, List.of(bytes("denied")), null, null, null, null, limited, asLimited);
                throw new Failed(who + " wrote to " + t.name + " without an ACL");
            } catch (TopicAuthorizationException e) {
                // refused, as it must be
            } catch (Failed e) {
                throw e;
            } catch (Exception e) {
                throw new Failed("an unauthorised write failed with " + errorName(e) + ", want TOPIC_AUTHORIZATION_FAILED");
            }
            get(a.createAcls(List.of(topicAcl(t.name, who, AclOperation.WRITE))).all());
            try {
                long deadline = now() + timeoutMs();
                while (true) {
                    try {
                        produce(null, t.name, List.of(bytes("granted")), null, null, null, null, limited, asLimited);
                        break;
                    } catch (TopicAuthorizationException e) {
                        if (now() > deadline) {
                            throw e;
                        }
                        sleep(500);  // the new ACL is on its way to every broker
                    }
                }
            } finally {
                get(a.deleteAcls(List.of(topicAcls(t.name))).all());
            }
            return "without an ACL: TOPIC_AUTHORIZATION_FAILED; with WRITE granted: acknowledged";
        }
    }

    static String saslScram() throws Exception {
        needSecurity();
        String who = principal(security);
        int brokers;
        try (Admin ok = admin()) {
            brokers = get(ok.describeCluster().nodes()).size();
        }
        Properties wrong = new Properties();
        wrong.putAll(security);
        wrong.put("sasl.jaas.config", security.getProperty("sasl.jaas.config")
                .replaceFirst("password=\"([^\"]*)\"", "password=\"$1-wrong\""));
        try (Admin bad = admin(wrong, "default.api.timeout.ms", "8000", "request.timeout.ms", "8000")) {
            get(bad.describeCluster().nodes());
        } catch (Exception e) {
            return brokers + " brokers reached as " + who + "; a wrong password refused (" + errorName(e) + ")";
        }
        throw new Failed("a wrong SCRAM password was accepted");
    }

    static String tls() throws Exception {
        needSecurity();
        String ca = security.getProperty("ssl.truststore.location", "");
        if (ca.isEmpty()) {
            throw new Failed("the deploy names no CA certificate");
        }
        int brokers;
        try (Admin ok = admin()) {
            brokers = get(ok.describeCluster().nodes()).size();  // TLS verified with the deploy's CA
        }
        // A client that trusts only the JDK's default CAs must not get past the handshake.
        Properties jdkTrust = new Properties();
        security.forEach((k, v) -> {
            if (!k.toString().startsWith("ssl.truststore.")) {
                jdkTrust.put(k, v);
            }
        });
        String untrusted;
        try (Admin bad = admin(jdkTrust, "default.api.timeout.ms", "8000", "request.timeout.ms", "8000")) {
            get(bad.describeCluster().nodes());
            throw new Failed("a client trusting only the JDK's default CAs reached the cluster");
        } catch (Failed e) {
            throw e;
        } catch (Exception e) {
            untrusted = errorName(e);
        }
        // Plaintext to the TLS listener: the broker sees garbage, the client never gets an answer.
        Properties plain = new Properties();
        security.forEach((k, v) -> {
            String key = k.toString();
            if (!key.startsWith("ssl.") && !key.startsWith("sasl.")) {
                plain.put(k, v);
            }
        });
        plain.put("security.protocol", "PLAINTEXT");
        try (Admin bad = admin(plain, "default.api.timeout.ms", "6000", "request.timeout.ms", "6000")) {
            get(bad.describeCluster().nodes());
        } catch (Exception e) {
            return "TLS verified with the deploy's CA (" + brokers + " brokers); the JDK's default trust store "
                    + "refused (" + untrusted + "); plaintext refused (" + errorName(e) + ")";
        }
        throw new Failed("a plaintext client reached the cluster");
    }

    static Map<String, Double> quotaOf(Admin a, ClientQuotaEntity entity, String clientId) throws Exception {
        ClientQuotaFilter filter = ClientQuotaFilter.containsOnly(
                List.of(ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.CLIENT_ID, clientId)));
        return get(a.describeClientQuotas(filter).entities()).getOrDefault(entity, Map.of());
    }

    static String quotas() throws Exception {
        String clientId = name("quotas", "client");
        ClientQuotaEntity entity = new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, clientId));
        String key = "producer_byte_rate";
        double rate = 1_048_576;
        try (Admin a = admin()) {
            get(a.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                    List.of(new ClientQuotaAlteration.Op(key, rate))))).all());
            try {
                long deadline = now() + timeoutMs();
                Map<String, Double> seen = Map.of();
                while (now() < deadline) {
                    seen = quotaOf(a, entity, clientId);
                    if (Double.valueOf(rate).equals(seen.get(key))) {
                        break;
                    }
                    sleep(300);
                }
                if (!Double.valueOf(rate).equals(seen.get(key))) {
                    throw new Failed("DescribeClientQuotas gave " + seen + " for client-id " + clientId
                            + ", want " + key + "=" + (long) rate);
                }
                // A null value removes the quota.
                get(a.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                        List.of(new ClientQuotaAlteration.Op(key, null))))).all());
                deadline = now() + timeoutMs();
                while (now() < deadline) {
                    seen = quotaOf(a, entity, clientId);
                    if (!seen.containsKey(key)) {
                        return key + "=" + (long) rate + " set for client-id " + clientId + ", described, removed";
                    }
                    sleep(300);
                }
                throw new Failed("after removal DescribeClientQuotas still gives " + seen);
            } finally {
                try {
                    get(a.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                            List.of(new ClientQuotaAlteration.Op(key, null))))).all());
                } catch (Exception e) {
                    System.err.println("compat: could not remove the quota for " + clientId + ": " + e);
                }
            }
        }
    }

    // ---------------------------------------------------------------- the run

    static Workflow impl(String wid) {
        switch (wid) {
            case "produce-acks-0": return () -> acks(wid, "0");
            case "produce-acks-1": return () -> acks(wid, "1");
            case "produce-acks-all": return () -> acks(wid, "all");
            case "idempotent-producer": return Compat::idempotentProducer;
            case "keyed-partitioning": return Compat::keyedPartitioning;
            case "headers": return Compat::headers;
            case "large-message": return Compat::largeMessage;
            case "compression-gzip": return () -> compression("gzip");
            case "compression-snappy": return () -> compression("snappy");
            case "compression-lz4": return () -> compression("lz4");
            case "compression-zstd": return () -> compression("zstd");
            case "transaction-commit": return Compat::transactionCommit;
            case "transaction-abort": return Compat::transactionAbort;
            case "read-committed-lso": return Compat::readCommittedLso;
            case "zombie-fencing": return Compat::zombieFencing;
            case "consume-transform-produce": return Compat::consumeTransformProduce;
            case "group-join-leave": return Compat::groupJoinLeave;
            case "rebalance-eager": return Compat::rebalanceEager;
            case "rebalance-cooperative": return Compat::rebalanceCooperative;
            case "static-membership": return Compat::staticMembership;
            case "admin-groups": return Compat::adminGroups;
            case "offset-commit-fetch": return Compat::offsetCommitFetch;
            case "offset-reset": return Compat::offsetReset;
            case "list-offsets-time": return Compat::listOffsetsTime;
            case "seek-pause-resume": return Compat::seekPauseResume;
            case "delete-records": return Compat::deleteRecords;
            case "log-compaction": return Compat::logCompaction;
            case "retention": return Compat::retention;
            case "admin-topics": return Compat::adminTopics;
            case "admin-partitions": return Compat::adminPartitions;
            case "admin-configs": return Compat::adminConfigs;
            case "admin-cluster": return Compat::adminCluster;
            case "acl-admin": return Compat::aclAdmin;
            case "acl-enforcement": return Compat::aclEnforcement;
            case "sasl-scram": return Compat::saslScram;
            case "tls": return Compat::tls;
            case "quotas": return Compat::quotas;
            default: throw new IllegalArgumentException(wid);
        }
    }

    static final ObjectMapper JSON = new ObjectMapper();
    static final PrintWriter OUT = new PrintWriter(System.out, false, StandardCharsets.UTF_8);

    static void emit(Map<String, Object> line) throws IOException {
        OUT.println(JSON.writeValueAsString(line));
        OUT.flush();
    }

    static Map<String, Object> runOne(String wid) {
        long start = System.nanoTime();
        String status;
        String detail;
        try {
            detail = impl(wid).run();
            status = "pass";
        } catch (Unavailable e) {
            status = "unavailable";
            detail = e.getMessage();
        } catch (Failed e) {
            status = "fail";
            detail = e.getMessage();
        } catch (Throwable e) {
            Throwable c = rootOf(e);
            status = "fail";
            detail = c.getClass().getSimpleName() + (c.getMessage() == null ? "" : ": " + c.getMessage());
        }
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("workflow", wid);
        line.put("status", status);
        line.put("detail", String.valueOf(detail).replaceAll("\\s*[\\r\\n]+\\s*", " ").strip());
        line.put("duration_s", Math.round((System.nanoTime() - start) / 1e6) / 1e3);
        return line;
    }

    static Properties load(String path) {
        Properties p = new Properties();
        try (FileReader r = new FileReader(path, StandardCharsets.UTF_8)) {
            p.load(r);
        } catch (IOException e) {
            usage("cannot read " + path + ": " + e.getMessage());
        }
        return p;
    }

    static void usage(String why) {
        System.err.println("Compat.java: " + why);
        System.exit(2);
    }

    /** Route the client's logging (slf4j over log4j2 in Kafka's libs) to stderr, errors only. */
    static void quietLogging() {
        try {
            File f = File.createTempFile("compat-log4j2-", ".properties");
            f.deleteOnExit();
            Files.writeString(f.toPath(), String.join("\n",
                    "status = error",
                    "appender.err.type = Console",
                    "appender.err.name = err",
                    "appender.err.target = SYSTEM_ERR",
                    "appender.err.layout.type = PatternLayout",
                    "appender.err.layout.pattern = %d{HH:mm:ss.SSS} %-5p %c{1}: %m%n",
                    "rootLogger.level = error",
                    "rootLogger.appenderRef.err.ref = err", ""));
            System.setProperty("log4j2.configurationFile", f.getAbsolutePath());
        } catch (IOException e) {
            System.err.println("compat: could not write a logging config: " + e);
        }
    }

    public static void main(String[] args) throws Exception {
        quietLogging();  // before any Kafka class makes its logger
        List<String> wanted = new ArrayList<>();
        String adminConfig = null;
        String limitedConfig = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            boolean takesValue = List.of("--bootstrap", "--admin-config", "--limited-config", "--nonce", "--timeout-s")
                    .contains(a);
            if (takesValue && i + 1 >= args.length) {
                usage(a + " needs a value");
            }
            switch (a) {
                case "--bootstrap": bootstrap = args[++i]; break;
                case "--admin-config": adminConfig = args[++i]; break;
                case "--limited-config": limitedConfig = args[++i]; break;
                case "--nonce": nonce = args[++i]; break;
                case "--timeout-s":
                    try {
                        timeoutS = Double.parseDouble(args[++i]);
                    } catch (NumberFormatException e) {
                        usage("--timeout-s wants a number, not " + args[i]);
                    }
                    if (!(timeoutS > 0)) {
                        usage("--timeout-s must be positive");
                    }
                    break;
                default:
                    if (a.startsWith("-")) {
                        usage("unknown option " + a);
                    }
                    if (!WORKFLOWS.contains(a)) {
                        usage("unknown workflow " + a);
                    }
                    wanted.add(a);
            }
        }
        if (bootstrap == null || bootstrap.isEmpty()) {
            usage("--bootstrap HOST:PORT[,...] is required");
        }
        if (adminConfig != null) {
            security = load(adminConfig);
        }
        if (limitedConfig != null) {
            limited = load(limitedConfig);
        }
        if (nonce == null) {
            nonce = String.format("%06x", new SecureRandom().nextInt(1 << 24));
        }
        if (wanted.isEmpty()) {
            wanted = WORKFLOWS;
        }

        Map<String, Object> hello = new LinkedHashMap<>();
        hello.put("client", CLIENT);
        hello.put("version", AppInfoParser.getVersion());
        emit(hello);
        for (String wid : wanted) {
            emit(runOne(wid));
        }
        OUT.flush();
        // Client threads (a close that timed out, a fenced producer) must not keep the JVM alive.
        System.exit(0);
    }
}
