import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.Externalizable;
import java.io.File;
import java.io.IOException;
import java.io.ObjectInput;
import java.io.ObjectInputStream;
import java.io.ObjectOutput;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.LinkedList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.UUID;

/**
 * Writes the golden Java serialization streams of jserial/testdata (subcommand
 * jserial-golden). Every stream is read back with ObjectInputStream and compared with
 * what was written before the file is kept. The Go test jserial/golden_test.go holds
 * the expected Go value of each file.
 */
final class JserialGolden {

    private JserialGolden() {
    }

    /** A serializable superclass. */
    static class Base implements Serializable {
        private static final long serialVersionUID = 7L;
        String name;
        long id;
        transient int ignored = 5;

        @Override
        public boolean equals(Object o) {
            return o instanceof Base && Objects.equals(name, ((Base) o).name) && id == ((Base) o).id;
        }

        @Override
        public int hashCode() {
            return Objects.hash(name, id);
        }
    }

    /** A subclass with a writeObject method that adds custom data after its fields. */
    static final class Point extends Base {
        private static final long serialVersionUID = 42L;
        int x;
        int y;
        byte[] tag;
        Object extra;
        transient int readBack;

        private void writeObject(ObjectOutputStream out) throws IOException {
            out.defaultWriteObject();
            out.writeInt(x * y);
            out.writeUTF("custom");
            out.writeObject(Arrays.asList("in", "writeObject").toArray(new String[0]));
        }

        private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
            in.defaultReadObject();
            readBack = in.readInt();
            check(in.readUTF().equals("custom"), "Point custom data");
            check(((String[]) in.readObject()).length == 2, "Point custom object");
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof Point) || !super.equals(o)) {
                return false;
            }
            Point p = (Point) o;
            return x == p.x && y == p.y && Arrays.equals(tag, p.tag) && Objects.equals(extra, p.extra);
        }

        @Override
        public int hashCode() {
            return Objects.hash(x, y);
        }
    }

    /** An Externalizable class writing its own block data, like Tribes' RpcMessage. */
    public static final class Ext implements Externalizable {
        private static final long serialVersionUID = 3L;
        String id;
        int count;
        byte[] payload;
        Object value;

        public Ext() {
        }

        Ext(String id, int count, byte[] payload, Object value) {
            this.id = id;
            this.count = count;
            this.payload = payload;
            this.value = value;
        }

        @Override
        public void writeExternal(ObjectOutput out) throws IOException {
            out.writeUTF(id);
            out.writeInt(count);
            out.writeInt(payload.length);
            out.write(payload);
            out.writeBoolean(value != null);
            if (value != null) {
                out.writeObject(value);
            }
            out.writeLong(-1L);
        }

        @Override
        public void readExternal(ObjectInput in) throws IOException, ClassNotFoundException {
            id = in.readUTF();
            count = in.readInt();
            payload = new byte[in.readInt()];
            in.readFully(payload);
            if (in.readBoolean()) {
                value = in.readObject();
            }
            check(in.readLong() == -1L, "Ext trailer");
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof Ext)) {
                return false;
            }
            Ext e = (Ext) o;
            return id.equals(e.id) && count == e.count && Arrays.equals(payload, e.payload)
                    && Objects.equals(value, e.value);
        }

        @Override
        public int hashCode() {
            return id.hashCode();
        }
    }

    enum Color {
        RED, GREEN {
            @Override
            public String toString() {
                return "green";
            }
        }, BLUE
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException("jserial golden check failed: " + what);
        }
    }

    static byte[] seq(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 7 + 1);
        }
        return b;
    }

    static Point point() {
        Point p = new Point();
        p.name = "origin";
        p.id = 1234567890123L;
        p.x = 3;
        p.y = -4;
        p.tag = new byte[] {1, 2, 3};
        p.extra = Integer.valueOf(7);
        return p;
    }

    /** The session-message-sized graph of the benchmark (jserial bench). */
    static Map<String, Object> sessionGraph() {
        Map<String, Object> attrs = new HashMap<>();
        for (int i = 0; i < 10; i++) {
            attrs.put("attr" + i, i % 2 == 0 ? (Object) ("value-" + i) : (Object) Integer.valueOf(i * 1000));
        }
        Map<String, Object> m = new HashMap<>();
        m.put("sessionId", "8F2A6C1E9B3D47A5B1C2D3E4F5A6B7C8.node1");
        m.put("contextName", "localhost#/app");
        m.put("creationTime", Long.valueOf(1700000000123L));
        m.put("lastAccessed", Long.valueOf(1700000054321L));
        m.put("maxInactive", Integer.valueOf(1800));
        m.put("isNew", Boolean.FALSE);
        m.put("version", Long.valueOf(17L));
        m.put("data", seq(1024));
        m.put("attributes", attrs);
        return m;
    }

    /** One golden case: the objects written, in order (RESET entries mean reset()). */
    static class Case {
        final String name;
        final Object[] objects;

        Case(String name, Object... objects) {
            this.name = name;
            this.objects = objects;
        }
    }

    /**
     * A case whose classes have no equals (Tribes' messages): checked by reading it
     * back and writing what was read, which must give the same bytes.
     */
    static final class RewriteCase extends Case {
        RewriteCase(String name, Object o) {
            super(name, o);
        }
    }

    static final Object RESET = new Object();

    static List<Case> cases() {
        List<Case> c = new ArrayList<>();
        c.add(new Case("string", "hello"));
        c.add(new Case("string_empty", ""));
        c.add(new Case("string_unicode", "h\u00e9llo\u0000w\u00f6rld \uD83D\uDE00 \u20ac \uD800x"));
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 70000; i++) {
            sb.append((char) ('a' + i % 26));
        }
        c.add(new Case("string_long", sb.toString()));
        c.add(new Case("integer", Integer.valueOf(42)));
        c.add(new Case("integer_min", Integer.valueOf(Integer.MIN_VALUE)));
        c.add(new Case("long", Long.valueOf(-1234567890123456789L)));
        c.add(new Case("boolean", Boolean.TRUE));
        c.add(new Case("short", Short.valueOf((short) -300)));
        c.add(new Case("byte", Byte.valueOf((byte) -7)));
        c.add(new Case("character", Character.valueOf('\u00e9')));
        c.add(new Case("float", Float.valueOf(1.5f)));
        c.add(new Case("double", Double.valueOf(-2.25e100)));
        c.add(new Case("bytes", (Object) seq(300)));
        c.add(new Case("bytes_empty", (Object) new byte[0]));
        c.add(new Case("shorts", (Object) new short[] {1, -2, 32767}));
        c.add(new Case("ints", (Object) new int[] {1, -2, Integer.MAX_VALUE}));
        c.add(new Case("longs", (Object) new long[] {Long.MIN_VALUE, 0, 5}));
        c.add(new Case("chars", (Object) new char[] {'a', '\u00e9', '\uffff'}));
        c.add(new Case("bools", (Object) new boolean[] {true, false, true}));
        c.add(new Case("floats", (Object) new float[] {0.5f, -1f}));
        c.add(new Case("doubles", (Object) new double[] {Math.PI, -0.0}));
        c.add(new Case("object_array", (Object) new Object[] {"a", Integer.valueOf(1), null, new int[] {2}}));
        c.add(new Case("string_array", (Object) new String[] {"x", "y", "x"}));
        c.add(new Case("int_2d", (Object) new int[][] {{1, 2}, {3}}));
        c.add(new Case("arraylist", new ArrayList<>(Arrays.asList("a", Integer.valueOf(1), null, Long.valueOf(2)))));
        c.add(new Case("arraylist_empty", new ArrayList<>()));
        c.add(new Case("linkedlist", new LinkedList<>(Arrays.asList("first", "second"))));
        Map<String, Object> hm = new HashMap<>();
        for (int i = 0; i < 10; i++) {
            hm.put("key" + i, Integer.valueOf(i));
        }
        c.add(new Case("hashmap", hm));
        c.add(new Case("hashmap_empty", new HashMap<>()));
        Map<Object, Object> lhm = new LinkedHashMap<>();
        lhm.put("z", "last letter");
        lhm.put(Integer.valueOf(1), Boolean.FALSE);
        c.add(new Case("linkedhashmap", lhm));
        Map<String, Object> tm = new TreeMap<>();
        tm.put("b", Long.valueOf(2));
        tm.put("a", Long.valueOf(1));
        c.add(new Case("treemap", tm));
        c.add(new Case("hashset", new HashSet<>(Arrays.asList("one", "two", "three"))));
        c.add(new Case("linkedhashset", new LinkedHashSet<>(Arrays.asList(Integer.valueOf(3), Integer.valueOf(1)))));
        c.add(new Case("uuid", new UUID(0x0102030405060708L, 0x090a0b0c0d0e0f10L)));
        c.add(new Case("date", new Date(1700000000123L)));
        c.add(new Case("biginteger", new BigInteger("-123456789012345678901234567890")));
        c.add(new Case("bigdecimal", new BigDecimal("3.14159265358979323846")));
        Map<String, Object> inner = new HashMap<>();
        inner.put("list", new ArrayList<>(Arrays.asList(new LinkedList<>(Arrays.asList("deep")), new HashMap<>())));
        List<Object> nested = new ArrayList<>();
        nested.add(inner);
        nested.add(new TreeMap<>(inner));
        c.add(new Case("nested", nested));
        String shared = new String("shared");
        Point p = point();
        List<Object> same = new ArrayList<>();
        same.add(shared);
        same.add(shared);
        same.add(new String("shared"));
        same.add(p);
        same.add(p);
        same.add(Integer.valueOf(5));
        same.add(Integer.valueOf(5));
        same.add(Color.RED);
        same.add(Color.RED);
        c.add(new Case("backrefs", same));
        c.add(new Case("serializable", point()));
        c.add(new Case("externalizable", new Ext("ext-1", 3, seq(1500), new ArrayList<>(Arrays.asList("v")))));
        c.add(new Case("externalizable_null", new Ext("ext-2", 0, new byte[0], null)));
        c.add(new Case("enum", Color.BLUE));
        c.add(new Case("enum_body", Color.GREEN));
        c.add(new Case("class", String.class));
        c.add(new Case("class_custom", Point.class));
        c.add(new Case("reset", "before", shared, RESET, shared));
        c.add(new Case("session_graph", sessionGraph()));
        byte[] uuid = {1, 2, 3, 4};
        byte[] rpcId = "map".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        c.add(new RewriteCase("tribes_rpcmessage", new org.apache.catalina.tribes.group.RpcMessage(rpcId, uuid, "x")));
        c.add(new RewriteCase("tribes_norpcreply", new org.apache.catalina.tribes.group.RpcMessage.NoRpcChannelReply(rpcId, uuid)));
        org.apache.catalina.tribes.membership.StaticMembershipProvider.MemberMessage mm =
                new org.apache.catalina.tribes.membership.StaticMembershipProvider.MemberMessage(
                        "cluster-1".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1),
                        org.apache.catalina.tribes.membership.StaticMembershipProvider.MemberMessage.MSG_PING, null);
        c.add(new RewriteCase("tribes_membermessage", mm));
        c.add(new RewriteCase("tribes_rpc_membermessage", new org.apache.catalina.tribes.group.RpcMessage(rpcId, uuid, mm)));
        c.add(new RewriteCase("tribes_bytemessage", new org.apache.catalina.tribes.ByteMessage(seq(5))));
        c.add(new RewriteCase("tribes_uniqueid", new org.apache.catalina.tribes.UniqueId(seq(16))));
        return c;
    }

    static byte[] write(Case k) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bos)) {
            for (Object o : k.objects) {
                if (o == RESET) {
                    out.reset();
                } else {
                    out.writeObject(o);
                }
            }
        }
        return bos.toByteArray();
    }

    /** Equality that compares arrays by content, also inside lists and maps. */
    static boolean same(Object a, Object b) {
        if (a != null && a.getClass().isArray()) {
            return Arrays.deepEquals(new Object[] {a}, new Object[] {b});
        }
        if (a instanceof List && b instanceof List) {
            List<?> x = (List<?>) a;
            List<?> y = (List<?>) b;
            if (x.size() != y.size()) {
                return false;
            }
            for (int i = 0; i < x.size(); i++) {
                if (!same(x.get(i), y.get(i))) {
                    return false;
                }
            }
            return true;
        }
        if (a instanceof Map && b instanceof Map) {
            Map<?, ?> x = (Map<?, ?>) a;
            Map<?, ?> y = (Map<?, ?>) b;
            if (x.size() != y.size()) {
                return false;
            }
            for (Map.Entry<?, ?> e : x.entrySet()) {
                if (!y.containsKey(e.getKey()) || !same(e.getValue(), y.get(e.getKey()))) {
                    return false;
                }
            }
            return true;
        }
        return Objects.equals(a, b);
    }

    static void verify(Case k, byte[] b) throws Exception {
        if (k instanceof RewriteCase) {
            Object back;
            try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) {
                back = in.readObject();
                check(back.getClass() == k.objects[0].getClass(), k.name + ": read back " + back);
            }
            check(Arrays.equals(write(new Case(k.name, back)), b), k.name + ": written again differently");
            return;
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) {
            for (Object o : k.objects) {
                if (o == RESET) {
                    continue;
                }
                Object got = in.readObject();
                check(same(o, got), k.name + ": read back " + got);
            }
            check(in.available() == 0, k.name + ": trailing bytes");
        }
    }

    /** Writes the top-level block data stream: primitives between objects. */
    static byte[] blockData() throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bos)) {
            out.writeUTF("S1");
            out.writeInt(2);
            out.writeObject(Integer.valueOf(1800));
            out.write(seq(2000));
            out.writeBoolean(true);
        }
        return bos.toByteArray();
    }

    static int run(String outdir) throws Exception {
        File dir = new File(outdir);
        check(dir.isDirectory() || dir.mkdirs(), "mkdir " + outdir);
        int n = 0;
        for (Case k : cases()) {
            byte[] b = write(k);
            verify(k, b);
            Files.write(new File(dir, k.name + ".ser").toPath(), b);
            n++;
        }
        Files.write(new File(dir, "blockdata.ser").toPath(), blockData());
        n++;
        Json.event("jserialGoldenDone").put("files", n).emit();
        return 0;
    }
}
