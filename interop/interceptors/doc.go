// Package interceptorinterop holds interop tests of package interceptors against the real
// Java Tribes interceptors (GzipInterceptor, OrderInterceptor, FragmentationInterceptor,
// EncryptInterceptor, TwoPhaseCommitInterceptor, NonBlockingCoordinator), run in the Java
// test peer (internal/javapeer), and a loopback benchmark of an interceptor stack. The
// tests skip when Java or Debian's libtomcat10-java are missing.
package interceptorinterop
