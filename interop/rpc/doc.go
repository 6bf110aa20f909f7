// Package rpcinterop holds the interop tests of packages objects and rpc against the real
// Java Tribes classes: Serializable channel messages both ways, RpcChannel calls from Go
// to Java and from Java to Go in every reply mode (with members that have no RpcChannel
// for the id and members that never answer), and the RPC round-trip benchmark Go-Go vs
// Java-Java. The Java side is the project's test peer (interop/java, RpcPeer.java). The
// tests skip when Java or Debian's libtomcat10-java are missing.
package rpcinterop
