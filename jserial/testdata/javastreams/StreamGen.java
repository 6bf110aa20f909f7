import java.io.*;
import java.math.BigDecimal;
import java.util.*;

// StreamGen writes, into the directory its argument names, streams of what web
// applications keep in sessions (TestJavaStreamsDecode decodes each).
public class StreamGen {
    enum Color { RED, GREEN, BLUE }
    static class Flag implements Serializable { private static final long serialVersionUID = 1L; boolean on; Flag(boolean b){on=b;} }
    static class Point implements Serializable { private static final long serialVersionUID = 1L; int x, y; Point(int x,int y){this.x=x;this.y=y;} }
    static class Base implements Serializable { private static final long serialVersionUID = 1L; boolean active = true; }
    static class Mid extends Base { private static final long serialVersionUID = 1L; byte b = 1; }
    static class Leaf extends Mid { private static final long serialVersionUID = 1L; boolean z; Color c = Color.GREEN; }
    static class Item implements Serializable { private static final long serialVersionUID = 1L; String sku; int qty; Boolean gift; Item(String s,int q){sku=s;qty=q;gift=Boolean.FALSE;} }

    static void write(File dir, String name, Object o) throws IOException {
        try (ObjectOutputStream out = new ObjectOutputStream(new FileOutputStream(new File(dir, name + ".ser")))) {
            out.writeObject(o);
        }
    }

    public static void main(String[] a) throws Exception {
        File dir = new File(a[0]);
        int n = 10000;
        ArrayList<Integer> ints = new ArrayList<>(); for (int i = 0; i < n; i++) ints.add(i); write(dir, "arraylist_integer", ints);
        ArrayList<Integer> small = new ArrayList<>(); for (int i = 0; i < n; i++) small.add(i % 100); write(dir, "arraylist_integer_cached", small);
        ArrayList<Long> longs = new ArrayList<>(); for (int i = 0; i < n; i++) longs.add((long) i * 1000003L); write(dir, "arraylist_long", longs);
        ArrayList<Boolean> bools = new ArrayList<>(); for (int i = 0; i < n; i++) bools.add(i % 3 == 0); write(dir, "arraylist_boolean", bools);
        ArrayList<Date> dates = new ArrayList<>(); for (int i = 0; i < n; i++) dates.add(new Date(1700000000000L + i)); write(dir, "arraylist_date", dates);
        ArrayList<BigDecimal> decs = new ArrayList<>(); for (int i = 0; i < n; i++) decs.add(new BigDecimal(i).movePointLeft(2)); write(dir, "arraylist_bigdecimal", decs);
        ArrayList<Color> enums = new ArrayList<>(); for (int i = 0; i < n; i++) enums.add(Color.values()[i % 3]); write(dir, "arraylist_enum", enums);
        HashMap<Integer, Long> hm = new HashMap<>(); for (int i = 0; i < n; i++) hm.put(i, (long) i); write(dir, "hashmap_integer_long", hm);
        HashMap<Integer, Boolean> hb = new HashMap<>(); for (int i = 0; i < n; i++) hb.put(i, i % 2 == 0); write(dir, "hashmap_integer_boolean", hb);
        ArrayList<Flag> flags = new ArrayList<>(); for (int i = 0; i < n; i++) flags.add(new Flag(i % 2 == 0)); write(dir, "beans_flag", flags);
        ArrayList<Point> pts = new ArrayList<>(); for (int i = 0; i < n; i++) pts.add(new Point(i, -i)); write(dir, "beans_point", pts);
        ArrayList<Leaf> leaves = new ArrayList<>(); for (int i = 0; i < n; i++) leaves.add(new Leaf()); write(dir, "beans_leaf", leaves);
        ArrayList<Item> items = new ArrayList<>(); for (int i = 0; i < n; i++) items.add(new Item("s", i)); write(dir, "beans_item", items);
        HashMap<String, Object> sess = new HashMap<>();
        for (int i = 0; i < n; i++) {
            Object v;
            switch (i % 6) {
                case 0: v = Integer.valueOf(i); break;
                case 1: v = Boolean.TRUE; break;
                case 2: v = new Flag(true); break;
                case 3: v = new Point(i, i); break;
                case 4: v = Color.BLUE; break;
                default: v = "v" + i;
            }
            sess.put("a" + i, v);
        }
        write(dir, "session_map", sess);
        HashMap<String, Object> sessFlags = new HashMap<>(); for (int i = 0; i < n; i++) sessFlags.put("k" + i, new Flag(true)); write(dir, "session_flags", sessFlags);
        HashMap<String, Object> sessLeaf = new HashMap<>(); for (int i = 0; i < n; i++) sessLeaf.put("k" + i, new Leaf()); write(dir, "session_leaf", sessLeaf);
        ArrayList<String> roles = new ArrayList<>(); for (int i = 0; i < 50; i++) roles.add("role" + i);
        Object gp = new org.apache.catalina.realm.GenericPrincipal("alice", roles);
        write(dir, "generic_principal", gp);
        ArrayList<Object> gps = new ArrayList<>(); for (int i = 0; i < 1000; i++) gps.add(new org.apache.catalina.realm.GenericPrincipal("u" + i, List.of("r"))); write(dir, "generic_principals", gps);

        ArrayList<Ent3> e3 = new ArrayList<>(); for (int i = 0; i < n; i++) e3.add(new Ent3()); write(dir, "beans_ent3", e3);
        ArrayList<java.util.concurrent.atomic.AtomicBoolean> ab = new ArrayList<>(); for (int i = 0; i < n; i++) ab.add(new java.util.concurrent.atomic.AtomicBoolean(i%2==0)); write(dir, "atomic_boolean", ab);
        ArrayList<java.util.concurrent.atomic.AtomicInteger> ai = new ArrayList<>(); for (int i = 0; i < n; i++) ai.add(new java.util.concurrent.atomic.AtomicInteger(i)); write(dir, "atomic_integer", ai);
        java.util.concurrent.ConcurrentHashMap<String,Boolean> chm = new java.util.concurrent.ConcurrentHashMap<>(); for (int i = 0; i < n; i++) chm.put("k"+i, Boolean.TRUE); write(dir, "concurrent_hashmap", chm);
        Hashtable<String,Integer> ht = new Hashtable<>(); for (int i = 0; i < n; i++) ht.put("k"+i, i); write(dir, "hashtable", ht);
        Vector<Integer> vec = new Vector<>(); for (int i = 0; i < n; i++) vec.add(i); write(dir, "vector", vec);
        TreeSet<Integer> ts = new TreeSet<>(); for (int i = 0; i < n; i++) ts.add(i); write(dir, "treeset", ts);
        ArrayList<java.sql.Timestamp> tss = new ArrayList<>(); for (int i = 0; i < n; i++) tss.add(new java.sql.Timestamp(1700000000000L+i)); write(dir, "timestamps", tss);
        ArrayList<Object> ul = new ArrayList<>(); for (int i = 0; i < n; i++) ul.add(Collections.unmodifiableList(new ArrayList<>(List.of(i)))); write(dir, "unmodifiable_lists", ul);
        ArrayList<Object> lo = new ArrayList<>(); for (int i = 0; i < n; i++) lo.add(List.of(i%2==0)); write(dir, "list_of", lo);
        ArrayList<Object> es = new ArrayList<>(); for (int i = 0; i < n; i++) es.add(EnumSet.of(Color.RED)); write(dir, "enumsets", es);
        ArrayList<Object> em = new ArrayList<>(); for (int i = 0; i < n; i++) { EnumMap<Color,Boolean> m = new EnumMap<>(Color.class); m.put(Color.RED, true); em.add(m);} write(dir, "enummaps", em);
        ArrayList<Object> ck = new ArrayList<>(); for (int i = 0; i < 2000; i++) { jakarta.servlet.http.Cookie c = new jakarta.servlet.http.Cookie("c"+i, "v"); ck.add(c);} write(dir, "cookies", ck);
        ArrayList<Object> opts = new ArrayList<>(); for (int i = 0; i < n; i++) opts.add(new Opt()); write(dir, "beans_opts", opts);
        ArrayList<H4> e4 = new ArrayList<>(); for (int i = 0; i < n; i++) { H4 h = new H4(); h.h1 = i % 2 == 0; h.h4 = i % 3 == 0; e4.add(h); } write(dir, "beans_ent4", e4);
        ArrayList<H8> e8 = new ArrayList<>(); for (int i = 0; i < n; i++) { H8 h = new H8(); h.h1 = i % 2 == 0; h.h8 = i % 3 == 0; e8.add(h); } write(dir, "beans_ent8", e8);
        ArrayList<H9> e9 = new ArrayList<>(); for (int i = 0; i < n; i++) { H9 h = new H9(); h.h1 = i % 2 == 0; h.h9 = i % 3 == 0; e9.add(h); } write(dir, "beans_ent9", e9);
        ArrayList<H12> e12 = new ArrayList<>(); for (int i = 0; i < n; i++) { H12 h = new H12(); h.h1 = i % 2 == 0; h.h12 = i % 3 == 0; e12.add(h); } write(dir, "beans_ent12", e12);
        ArrayList<H16> e16 = new ArrayList<>(); for (int i = 0; i < n; i++) { H16 h = new H16(); h.h1 = i % 2 == 0; h.h16 = i % 3 == 0; e16.add(h); } write(dir, "beans_ent16", e16);
        ArrayList<G8> g8 = new ArrayList<>(); for (int i = 0; i < n; i++) { G8 g = new G8(); g.a1 = i % 2 == 0; g.b8 = (byte) i; g8.add(g); } write(dir, "beans_ent8x2", g8);
    }
    static class E1 implements Serializable { private static final long serialVersionUID = 1L; boolean deleted; }
    static class E2 extends E1 { private static final long serialVersionUID = 1L; boolean dirty; }
    static class Ent3 extends E2 { private static final long serialVersionUID = 1L; boolean selected; }
    // Hierarchies of four and eight classes with a boolean each (H), and of eight with a
    // boolean and a byte each (G).
    static class H1 implements Serializable { private static final long serialVersionUID = 1L; boolean h1; }
    static class H2 extends H1 { private static final long serialVersionUID = 1L; boolean h2; }
    static class H3 extends H2 { private static final long serialVersionUID = 1L; boolean h3; }
    static class H4 extends H3 { private static final long serialVersionUID = 1L; boolean h4; }
    static class H5 extends H4 { private static final long serialVersionUID = 1L; boolean h5; }
    static class H6 extends H5 { private static final long serialVersionUID = 1L; boolean h6; }
    static class H7 extends H6 { private static final long serialVersionUID = 1L; boolean h7; }
    static class H8 extends H7 { private static final long serialVersionUID = 1L; boolean h8; }
    static class H9 extends H8 { private static final long serialVersionUID = 1L; boolean h9; }
    static class H10 extends H9 { private static final long serialVersionUID = 1L; boolean h10; }
    static class H11 extends H10 { private static final long serialVersionUID = 1L; boolean h11; }
    static class H12 extends H11 { private static final long serialVersionUID = 1L; boolean h12; }
    static class H13 extends H12 { private static final long serialVersionUID = 1L; boolean h13; }
    static class H14 extends H13 { private static final long serialVersionUID = 1L; boolean h14; }
    static class H15 extends H14 { private static final long serialVersionUID = 1L; boolean h15; }
    static class H16 extends H15 { private static final long serialVersionUID = 1L; boolean h16; }
    static class G1 implements Serializable { private static final long serialVersionUID = 1L; boolean a1; byte b1; }
    static class G2 extends G1 { private static final long serialVersionUID = 1L; boolean a2; byte b2; }
    static class G3 extends G2 { private static final long serialVersionUID = 1L; boolean a3; byte b3; }
    static class G4 extends G3 { private static final long serialVersionUID = 1L; boolean a4; byte b4; }
    static class G5 extends G4 { private static final long serialVersionUID = 1L; boolean a5; byte b5; }
    static class G6 extends G5 { private static final long serialVersionUID = 1L; boolean a6; byte b6; }
    static class G7 extends G6 { private static final long serialVersionUID = 1L; boolean a7; byte b7; }
    static class G8 extends G7 { private static final long serialVersionUID = 1L; boolean a8; byte b8; }
    static class Opt implements Serializable { private static final long serialVersionUID = 1L; boolean a, b, c, d; }
}
