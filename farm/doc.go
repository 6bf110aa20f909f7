// Package farm distributes files to the members of a channel, as Tomcat's cluster farm
// deployer (org.apache.catalina.ha.deploy.FarmWarDeployer) distributes web
// applications: a Deployer sends a file in numbered chunks (FileMessage, 10 KiB each by
// default) to every member, and each member assembles it in a temporary directory and
// installs it in its deploy directory once the last chunk arrived; an UndeployMessage
// removes it everywhere. The messages are Tomcat's Java-serialized classes, so Go and
// Tomcat 10.1 nodes exchange web applications both ways.
//
// New checks the Config and Start registers the deployer's listener on the channel.
// Install sends a file as a context ("shop.war" as "/shop"), Deploy installs it here
// first (what Tomcat does with a file dropped in its watch directory), and Remove
// undeploys a context on every member. With Config.WatchDir the deployer scans a
// directory: a new or changed file (unchanged since the previous scan, so that one being
// copied in is not sent half-written) is deployed here and everywhere, and a removed
// one undeployed. WatchDir must not be DeployDir (Tomcat allows it). OnInstall and
// OnRemove tell the application, the context marked serviced meanwhile; Tomcat deploys
// what lands in its host's appBase. Stop waits for the messages being handled, a received
// file's OnInstall included.
//
// # Tomcat
//
// A Tomcat node runs the deployer in a cluster of its Host (FarmWarDeployer refuses an
// Engine's cluster): <Deployer className="org.apache.catalina.ha.deploy.FarmWarDeployer"
// tempDir="..." deployDir="<appBase>" watchDir="..." watchEnabled="true"/> inside the
// <Cluster>, which then names its channel "<host>-Channel" ("localhost-Channel"): a Go
// node's static membership protocol must use that name
// (membership/staticsvc.Config.ChannelName). Tomcat sends its chunks with the cluster's
// channelSendOptions, asynchronously by default, so they may arrive out of order: the
// deployer holds early chunks (up to Config.MaxOutOfOrderBytes per file, each a copy of
// its bytes) until the missing one comes, and ignores duplicates, as Tomcat's
// FileMessageFactory does. A sender using a synchronized ACK without the asynchronous
// option sends its chunks in order, so a chunk of its ahead of the one its file waits
// for (the chunks before went to a deployer restarted since) is refused with
// ErrInconsistent and the file dropped: the sender gets a FAIL_ACK rather than an ACK
// for a last chunk whose file was never installed (Tomcat holds it).
// Tomcat counts size/10240+1 chunks for a file and reads one fewer when its size is a
// multiple of 10 KiB, so such a file from Tomcat never completes on a Go member, which
// drops it after MaxValidTime (interop/tomcat TestFarmDeployer).
//
// # Received files
//
// Only a member of the channel may send files or undeploy: on a channel that delivers
// every sender's messages (channel.Config.AcceptNonMembers, as the Go side of a Tomcat
// cluster runs), a message from a sender the membership does not list is refused before
// it is decoded, with an error wrapping channel.ErrNotMember (FAIL_ACK to a
// synchronized-ack sender), counted in Stats.Refused and logged rate-limited; Tomcat's
// FarmWarDeployer installs anyone's file, a web application its host then runs. The
// check is the channel's own: a member listed without a unique id (host:port) stands for
// the node at its address.
//
// A member can send any file, so what it sends is checked: a file name must be a plain
// name (no path separator, NUL, leading dot, "." or ".."), a context name "" or a
// path of clean segments ("/a/b"), either optionally followed by "##" and a version
// (Tomcat's parallel deployment: "##2" for ROOT##2.war), or the chunk is refused with
// ErrBadName. Chunks of two transfers of one name from one member are assembled apart
// by their FileMessage timestamp (a Go sender gives each transfer its own; Tomcat sends
// 0, so two transfers of one name from one Tomcat node still mix); a chunk stamped later
// than its file's first that is the next one the file waits for continues it, as Go
// nodes built before transfers had one timestamp stamped each chunk. Chunks are bounded (MaxChunkBytes), files too (MaxFileBytes), and so are the
// files being received at once (MaxIncomplete) and an incomplete file's idle time
// (MaxValidTime); numbering that does not fit the file's earlier chunks is
// ErrInconsistent. The temporary files are named ".farm-" and a random number, not after
// the file they assemble, and installed files get mode 0644 under the process's umask,
// as Tomcat's. A refused chunk is counted (Stats.Refused), logged at a bounded rate
// per member, and answered with FAIL_ACK to a sender that asked for a synchronized ACK;
// an incomplete file is dropped with its temporary copy.
// Tomcat 10.1's FarmWarDeployer makes the temporary file's path from the name it is
// given (FarmWarDeployer.getFactory).
//
// Defaults (Tomcat's names beside them): WatchInterval 20 s (backgroundProcessorDelay
// × processDeployFrequency), MaxValidTime 5 min (maxValidTime), ChunkSize 10 KiB
// (FileMessageFactory.READ_SIZE), WatchPattern none: names ending in ".war" in any case,
// symbolic links followed (WarWatcher's WarFilter), SendOptions
// use_ack|sync (channelSendOptions); MaxFileBytes 1 GiB, MaxChunkBytes 4 MiB,
// MaxOutOfOrderBytes 4 MiB and MaxIncomplete 16 have no Tomcat equivalent.
package farm
