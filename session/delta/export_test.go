package delta

// TransferWindow is transferWindow, for the tests of package delta_test.
const TransferWindow = transferWindow
