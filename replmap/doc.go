// Package replmap is Tribes' replicated maps (org.apache.catalina.tribes.tipis), wire
// compatible with Java: AbstractReplicatedMap's MapMessage (Serializable,
// serialVersionUID 1), whose key and value travel as separate Java serialization
// streams (keydata, valuedata) and whose members are externalized MemberImpls.
//
// Decoding is bounded: a message holds at most DefaultMaxMessageBytes and 1024 backup
// members; errors wrap ErrBadMessage.
package replmap
